import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { ConfigError } from '../../../daemon/config/errors.ts'
import {
  checkImageRequirements, defaultGpuSpec, defaultResources, formatResources, inferGpuVendor, parseComputeCapability,
  parseCpuSpec, parseDiskSpec, parseGpuSpec, parseResources
} from '../../../daemon/config/resources.ts'
import type { GpuSpec, Range, ResourcesSpec } from '../../../daemon/config/types.ts'
import { throwsConfig } from './helpers.ts'


const r = (min: number | null, max: number | null): Range => ({ min, max })
const gpu = (over: Partial<GpuSpec>): GpuSpec => ({ ...defaultGpuSpec(), count: r(1, null), ...over })

// -- cpu ------------------------------------------------------------------------------------------

test('cpu: int, tokens in any order, object form, defaults', () => {
  const rows: Array<[string, unknown, ResourcesSpec['cpu']]> = [
    ['int N', 4, { arch: null, count: r(4, 4) }],
    ['int 0', 0, { arch: null, count: r(0, 0) }],
    ['count string', '16', { arch: null, count: r(16, 16) }],
    ['open range', '16..', { arch: null, count: r(16, null) }],
    ['x86:16', 'x86:16', { arch: 'x86', count: r(16, 16) }],
    ['arm:8..', 'arm:8..', { arch: 'arm', count: r(8, null) }],
    ['count first, arch in capitals', '2..:ARM', { arch: 'arm', count: r(2, null) }],
    ['arch only keeps the default count', 'arm', { arch: 'arm', count: r(2, null) }],
    ['spaces', ' x86 : 4..8 ', { arch: 'x86', count: r(4, 8) }],
    ['object', { arch: 'ARM', count: '4..' }, { arch: 'arm', count: r(4, null) }],
    ['object, count only', { count: 8 }, { arch: null, count: r(8, 8) }],
    ['object, null arch', { arch: null, count: { min: 2, max: null } }, { arch: null, count: r(2, null) }],
    ['min/max mapping is the count', { min: 4, max: 8 }, { arch: null, count: r(4, 8) }],
    ['{} gives the defaults', {}, { arch: null, count: r(2, null) }],
    ['null gives the defaults', null, { arch: null, count: r(2, null) }]
  ]
  for (const [name, input, want] of rows) assert.equal(parseCpuSpec(input), want, name)
})

test('cpu: empty token, two counts, two arches, unknown arch and other shapes are errors', () => {
  const rows: Array<[string, unknown, RegExp]> = [
    ['empty token', 'x86::4', /"x86::4" has an empty token/],
    ['empty string', '', /has an empty token/],
    ['two counts', '4:8', /"4:8" has two counts/],
    ['two arches', 'x86:arm', /"x86:arm" has two arches/],
    ['amd64 is not an arch', 'amd64:4', /unknown CPU arch "amd64" \(expected x86 or arm\)/],
    ['unknown arch in object', { arch: 'risc' }, /arch: unknown CPU arch "risc"/],
    ['fraction', 2.5, /expected a count/],
    ['fraction token', 'x86:2.5', /"x86:2.5": expected a count/],
    ['negative', -1, /cannot be negative/],
    ['bad range', '4..2', /min 4 is greater than max 2/],
    ['unknown key', { arch: 'x86', cont: 4 }, /cont: unknown field "cont" \(did you mean "count"\?\)/],
    ['unknown key, nothing near', { arch: 'x86', zzz: 4 }, /zzz: unknown field "zzz"$/],
    ['list', [4], /expected a CPU spec/],
    ['boolean', true, /expected a CPU spec/]
  ]
  for (const [name, input, pattern] of rows) throwsConfig(() => parseCpuSpec(input), pattern, name)
})

// -- gpu ------------------------------------------------------------------------------------------

test('gpu: every row of the SPEC §2.3 table', () => {
  const rows: Array<[string, GpuSpec]> = [
    ['A100', gpu({ name: ['A100'] })],
    ['A10G,A100', gpu({ name: ['A10G', 'A100'] })],
    ['A100:80GB', gpu({ name: ['A100'], memory: r(80, 80) })],
    ['A100:2', gpu({ name: ['A100'], count: r(2, 2) })],
    ['24GB..40GB:2', gpu({ count: r(2, 2), memory: r(24, 40) })],
    ['A100:40GB:2', gpu({ name: ['A100'], count: r(2, 2), memory: r(40, 40) })],
    ['nvidia', gpu({ vendor: 'nvidia' })],
    ['amd:MI300X:8', gpu({ vendor: 'amd', name: ['MI300X'], count: r(8, 8) })],
    ['tpu:v5p-1024', gpu({ vendor: 'google', name: ['v5p-1024'] })],
    ['v5litepod-64:TPU', gpu({ vendor: 'google', name: ['v5litepod-64'] })],
    ['H100:1..2', gpu({ name: ['H100'], count: r(1, 2) })],
    ['0..8', gpu({ count: r(0, 8) })]
  ]
  for (const [input, want] of rows) assert.equal(parseGpuSpec(input), want, input)
})

test('gpu: vendors and their aliases, in any case', () => {
  const rows: Array<[string, GpuSpec['vendor']]> = [
    ['NVIDIA', 'nvidia'], ['amd', 'amd'], ['Google', 'google'], ['tpu', 'google'], ['intel', 'intel'],
    ['tenstorrent', 'tenstorrent'], ['TT', 'tenstorrent']
  ]
  for (const [input, vendor] of rows) assert.is(parseGpuSpec(input).vendor, vendor, input)
})

test('gpu: tokens in any order, spaces stripped, memory with units each side, tpu- prefix stripped', () => {
  const rows: Array<[string, GpuSpec]> = [
    ['2:A100', gpu({ name: ['A100'], count: r(2, 2) })],
    ['80GB:nvidia:H100,A100:8', gpu({ vendor: 'nvidia', name: ['H100', 'A100'], count: r(8, 8), memory: r(80, 80) })],
    [' A100 : 2 ', gpu({ name: ['A100'], count: r(2, 2) })],
    ['16GB..32', gpu({ memory: r(16, 32) })],
    ['512MB..1TB:1', gpu({ memory: r(0.5, 1024), count: r(1, 1) })],
    ['tpu-v5litepod-8', gpu({ name: ['v5litepod-8'] })],
    ['24GB..', gpu({ memory: r(24, null) })]
  ]
  for (const [input, want] of rows) assert.equal(parseGpuSpec(input), want, input)
})

test('gpu: an int is a count; 0 means no GPU; absent or null is the 0.. default', () => {
  assert.equal(parseGpuSpec(0), { ...defaultGpuSpec(), count: r(0, 0) })
  assert.equal(parseGpuSpec(2), { ...defaultGpuSpec(), count: r(2, 2) })
  assert.equal(parseGpuSpec('0'), { ...defaultGpuSpec(), count: r(0, 0) })
  assert.equal(parseGpuSpec(null), defaultGpuSpec())
  assert.equal(parseGpuSpec(undefined), defaultGpuSpec())
  assert.equal(defaultGpuSpec().count, r(0, null))
})

test('gpu: a string or object without a count means 1..', () => {
  assert.equal(parseGpuSpec('A100').count, r(1, null))
  assert.equal(parseGpuSpec('24GB').count, r(1, null))
  assert.equal(parseGpuSpec({ name: 'A100' }).count, r(1, null))
  assert.equal(parseGpuSpec({}).count, r(1, null))
})

test('gpu: object form', () => {
  const rows: Array<[string, unknown, GpuSpec]> = [
    ['name as a string', { name: 'A100' }, gpu({ name: ['A100'] })],
    ['name as a list', { name: ['A10G', 'tpu-v3-8'] }, gpu({ name: ['A10G', 'v3-8'] })],
    ['empty name list', { name: [] }, gpu({})],
    ['everything', { vendor: 'NVIDIA', name: 'H100', count: '2..8', memory: '80GB..', total_memory: '640GB', compute_capability: '9.0' },
      gpu({ vendor: 'nvidia', name: ['H100'], count: r(2, 8), memory: r(80, null), total_memory: r(640, 640), compute_capability: [9, 0] })],
    ['vendor alias', { vendor: 'tt' }, gpu({ vendor: 'tenstorrent' })],
    ['count object', { count: { min: 1, max: 4 } }, gpu({ count: r(1, 4) })],
    ['nulls mean unset', { vendor: null, name: null, count: null, memory: null, total_memory: null, compute_capability: null }, gpu({})]
  ]
  for (const [name, input, want] of rows) assert.equal(parseGpuSpec(input), want, name)
})

test('gpu: compute capability as "7.5", 7.5 or [7, 5]; a bare integer is rejected', () => {
  assert.equal(parseComputeCapability('7.5'), [7, 5])
  assert.equal(parseComputeCapability(7.5), [7, 5])
  assert.equal(parseComputeCapability([7, 5]), [7, 5])
  assert.equal(parseComputeCapability(['8', '0']), [8, 0])
  assert.equal(parseComputeCapability(' 10.0 '), [10, 0])
  const rows: Array<[unknown, RegExp]> = [
    [8, /needs a minor version: write "8.0" or \[8, 0\]/], ['8', /expected a compute capability/], ['7.5.1', /expected a compute capability/],
    [[7], /expected a compute capability/], [[7, 5, 1], /expected a compute capability/], [[7.5, 1], /expected a compute capability/],
    ['x.y', /expected a compute capability/], [true, /expected a compute capability/], [[-1, 0], /expected a compute capability/]
  ]
  for (const [input, pattern] of rows) throwsConfig(() => parseComputeCapability(input), pattern, JSON.stringify(input))
  throwsConfig(() => parseGpuSpec({ compute_capability: 8 }), /^compute_capability: a compute capability needs a minor version/, 'in object')
})

test('gpu: duplicates of each kind are conflicts naming the kind', () => {
  const rows: Array<[string, RegExp]> = [
    ['A100:2:3', /GPU spec count conflict: "A100:2:3" has two counts/],
    ['nvidia:amd', /GPU spec vendor conflict: "nvidia:amd" has two vendors/],
    ['A100:H100', /GPU spec name conflict: "A100:H100" has two name lists/],
    ['24GB:80GB', /GPU spec memory conflict: "24GB:80GB" has two memory sizes/],
    ['tpu:google:v3-8', /GPU spec vendor conflict/]
  ]
  for (const [input, pattern] of rows) throwsConfig(() => parseGpuSpec(input), pattern, input)
})

test('gpu: malformed strings and other shapes are errors', () => {
  const rows: Array<[string, unknown, RegExp]> = [
    ['empty token', 'A100::2', /"A100::2" has an empty token/],
    ['empty string', '', /has an empty token/],
    ['trailing colon', 'A100:', /has an empty token/],
    ['empty name', 'A100,,H100', /"A100,,H100" has an empty GPU name/],
    ['only the tpu- prefix', 'tpu-', /GPU name cannot be empty/],
    ['bad memory', 'A100:80XB', /"A100:80XB": unknown memory unit "xb"/],
    ['bad count', 'A100:2..1', /"A100:2..1": .*min 2 is greater than max 1/],
    ['fraction count', 1.5, /expected a GPU count/],
    ['negative count', -1, /cannot be negative/],
    ['unknown vendor', { vendor: 'nvidai' }, /vendor: unknown GPU vendor "nvidai" \(did you mean "nvidia"\?\)/],
    ['unknown key', { names: 'A100' }, /names: unknown field "names" \(did you mean "name"\?\)/],
    ['empty name in object', { name: [''] }, /name\[0\]: a GPU name cannot be empty/],
    ['non-string name', { name: [{}] }, /name\[0\]: expected a GPU name/],
    ['bad count in object', { count: 'x' }, /count: expected a count/],
    ['list', ['A100'], /expected a GPU spec/],
    ['boolean', true, /expected a GPU spec/]
  ]
  for (const [name, input, pattern] of rows) throwsConfig(() => parseGpuSpec(input), pattern, name)
})

test('gpu: object errors are collected per field with relative paths', () => {
  const err = throwsConfig(() => parseGpuSpec({ vendor: 'x', count: -1, memory: 'big' }), /vendor/, 'several')
  assert.equal(err.issues.map(i => i.path), [['vendor'], ['count'], ['memory']])
})

// -- disk and resources ---------------------------------------------------------------------------

test('disk: a size, a range, or {size}', () => {
  assert.equal(parseDiskSpec('100GB'), { size: r(100, 100) })
  assert.equal(parseDiskSpec(200), { size: r(200, 200) })
  assert.equal(parseDiskSpec('100GB..1TB'), { size: r(100, 1024) })
  assert.equal(parseDiskSpec({ size: '50GB..' }), { size: r(50, null) })
  throwsConfig(() => parseDiskSpec({}), /size: size is required/, '{}')
  throwsConfig(() => parseDiskSpec({ size: '1..', sise: 1 }), /sise: unknown field "sise" \(did you mean "size"\?\)/, 'typo')
  throwsConfig(() => parseDiskSpec(null), /expected a disk size/, 'null')
  throwsConfig(() => parseDiskSpec('..'), /empty range/, '..')
})

test('resources: absent gives the defaults cpu 2.., memory 8GB.., gpu 0.., disk 100GB..', () => {
  assert.equal(parseResources(undefined), {
    cpu: { arch: null, count: r(2, null) },
    memory: r(8, null),
    shm_size: null,
    gpu: { vendor: null, name: null, count: r(0, null), memory: null, total_memory: null, compute_capability: null },
    disk: { size: r(100, null) }
  })
  assert.equal(parseResources({}), defaultResources())
})

test('resources: null is invalid (every sub-key commented out)', () => {
  throwsConfig(() => parseResources(null), /^resources must be a mapping, not null \(every sub-key commented out\?\)$/, 'null')
  throwsConfig(() => parseResources('gpu: 1'), /resources must be a mapping, got "gpu: 1"/, 'string')
  throwsConfig(() => parseResources([]), /resources must be a mapping/, 'list')
})

test('resources: each field, and null meaning the default (disk: null means no disk requirement)', () => {
  const out = parseResources({ cpu: 'arm:8', memory: '64GB..', shm_size: '16GB', gpu: 'H100:8', disk: '500GB' })
  assert.equal(out, {
    cpu: { arch: 'arm', count: r(8, 8) },
    memory: r(64, null),
    shm_size: 16,
    gpu: gpu({ name: ['H100'], count: r(8, 8) }),
    disk: { size: r(500, 500) }
  })
  const nulls = parseResources({ cpu: null, memory: null, shm_size: null, gpu: null, disk: null })
  assert.equal(nulls, { ...defaultResources(), disk: null })
  assert.equal(parseResources({ gpu: 0 }).gpu.count, r(0, 0))
  assert.equal(parseResources({ memory: '512MB' }).memory, r(0.5, 0.5))
})

test('resources: shm_size is a single size, not a range', () => {
  assert.is(parseResources({ shm_size: 8 }).shm_size, 8)
  assert.is(parseResources({ shm_size: '512MB' }).shm_size, 0.5)
  throwsConfig(() => parseResources({ shm_size: '1GB..2GB' }), /shm_size: shm_size is a single size, not a range/, 'range')
  throwsConfig(() => parseResources({ shm_size: { min: 1 } }), /shm_size: shm_size is a single size/, 'object')
  throwsConfig(() => parseResources({ shm_size: '1GiB' }), /shm_size: unknown memory unit/, 'unit')
})

test('resources: unknown keys and every field issue are reported together, with paths', () => {
  const err = throwsConfig(() => parseResources({ cpus: 4, gpu: 'A100:2:3', memory: 'lots', disk: { size: '..' } }), /cpus/, 'several')
  assert.equal(err.issues.map(i => i.path), [['cpus'], ['memory'], ['gpu'], ['disk', 'size']])
  assert.match(err.message, /cpus: unknown field "cpus" \(did you mean "cpu"\?\)/)
  assert.match(err.message, /gpu: GPU spec count conflict: "A100:2:3" has two counts/)
  assert.is(err.issues[0]!.key, true)
  const nested = throwsConfig(() => parseResources({ gpu: { count: 'x' } }), /gpu\.count: expected a count/, 'nested')
  assert.equal(nested.issues[0]!.path, ['gpu', 'count'])
})

test('resources: normalizing twice changes nothing', () => {
  const inputs: unknown[] = [
    undefined, {}, { gpu: 'A100:80GB:2' }, { gpu: 0 }, { gpu: null, disk: null }, { cpu: 'arm:8..', memory: '512MB..1TB' },
    { shm_size: '512MB', disk: { size: '100GB..' } }, { gpu: { vendor: 'amd', name: ['MI300X'], total_memory: '1TB..', compute_capability: [9, 0] } },
    { gpu: 'tpu:v5litepod-8' }, { gpu: '..4' }, { cpu: { min: 1 } }, { gpu: 'tpu-tpu-v3-8' }
  ]
  for (const input of inputs) {
    const once = parseResources(input)
    assert.equal(parseResources(JSON.parse(JSON.stringify(once))), once, JSON.stringify(input))
  }
})

test('format: cpu, mem, shm, disk, then gpu with names and memory before the count', () => {
  const rows: Array<[unknown, string]> = [
    [undefined, 'cpu=2.. mem=8GB.. disk=100GB.. gpu=0..'],
    [{ gpu: 'A100:80GB:2' }, 'cpu=2.. mem=8GB.. disk=100GB.. gpu=A100:80GB:2'],
    [{ gpu: 'A100' }, 'cpu=2.. mem=8GB.. disk=100GB.. gpu=A100:1..'],
    [{ gpu: 'nvidia:24GB..40GB:2' }, 'cpu=2.. mem=8GB.. disk=100GB.. gpu=24GB..40GB:2'],
    [{ gpu: { name: ['A10G', 'A100'], total_memory: '80GB..', compute_capability: '8.0' } }, 'cpu=2.. mem=8GB.. disk=100GB.. gpu=A10G,A100:1..:80GB..:8.0'],
    [{ cpu: 'arm:8', memory: 64, shm_size: '512MB', disk: '1TB' }, 'cpu=arm:8 mem=64GB shm=512MB disk=1024GB gpu=0..'],
    [{ cpu: 'x86:4..16', disk: null, gpu: 0 }, 'cpu=4..16 mem=8GB.. gpu=0']
  ]
  for (const [input, want] of rows) assert.is(formatResources(parseResources(input)), want, JSON.stringify(input))
})

// -- server-side defaulting -----------------------------------------------------------------------

test('vendor inference (§2.5, GPU-NAMES §5.2)', () => {
  const none = {}
  const rows: Array<[string, GpuSpec, { image?: string | null, docker?: boolean | null }, GpuSpec['vendor']]> = [
    ['explicit vendor kept', parseGpuSpec('amd:A100'), none, 'amd'],
    ['no GPU wanted: unset', parseGpuSpec(0), none, null],
    ['no names, default image: nvidia', parseGpuSpec('24GB:2'), none, 'nvidia'],
    ['the 0.. default, default image: nvidia', defaultGpuSpec(), none, 'nvidia'],
    ['no names, custom image: unset', parseGpuSpec(1), { image: 'ubuntu' }, null],
    ['no names, docker: unset', parseGpuSpec(1), { docker: true }, null],
    ['no names, docker false: nvidia', parseGpuSpec(1), { docker: false, image: null }, 'nvidia'],
    ['known NVIDIA names', parseGpuSpec('H100,A100'), none, 'nvidia'],
    ['names any case', parseGpuSpec('h100'), none, 'nvidia'],
    ['known AMD name', parseGpuSpec('MI300X'), { image: 'rocm' }, 'amd'],
    ['TPU name', parseGpuSpec('v5litepod-8'), none, 'google'],
    ['mixed vendors: unset', parseGpuSpec('H100,MI300X'), none, null],
    ['an unknown name: unset', parseGpuSpec('H100,UNKNOWN1000'), none, null],
    ['all unknown: unset', parseGpuSpec('FOO'), none, null]
  ]
  for (const [name, spec, image, vendor] of rows) {
    const out = inferGpuVendor(spec, image)
    assert.is(out.vendor, vendor, name)
    assert.equal({ ...out, vendor: spec.vendor }, spec, `${name}: nothing else changes`)
  }
})

const IMAGE_MSG = '`image` must be set when the requested accelerator is not supported by the default image: '

test('image requirement: AMD, Intel and Tenstorrent need an image; NVIDIA, TPU and unknown names do not', () => {
  const res = (g: unknown, cpu?: unknown): ResourcesSpec => parseResources({ gpu: g, cpu })
  const rows: Array<[string, ResourcesSpec, { image?: string | null, docker?: boolean | null }, string[]]> = [
    ['amd vendor, default image', res('amd:MI300X:8'), {}, [`${IMAGE_MSG}['amd']`]],
    ['amd by name', res('MI300X'), {}, [`${IMAGE_MSG}['amd']`]],
    ['intel', res('intel'), {}, [`${IMAGE_MSG}['intel']`]],
    ['tenstorrent alias', res('tt:n150'), {}, [`${IMAGE_MSG}['tenstorrent']`]],
    ['several vendors sorted', res('MI300X,Gaudi2,H100'), {}, [`${IMAGE_MSG}['amd', 'intel']`]],
    ['amd with an image', res('amd'), { image: 'rocm/dev' }, []],
    ['amd with docker', res('amd'), { docker: true }, []],
    ['amd but no GPU wanted', res({ vendor: 'amd', count: 0 }), {}, []],
    ['nvidia', res('H100'), {}, []],
    ['tpu', res('tpu:v5p-8'), {}, []],
    ['unknown name', res('FOO1000'), {}, []],
    ['no gpu', res(undefined), {}, []]
  ]
  for (const [name, resources, image, want] of rows) assert.equal(checkImageRequirements(resources, image), want, name)
})

test('image requirement: ARM needs an image and forbids docker', () => {
  const arm = parseResources({ cpu: 'arm:4' })
  assert.equal(checkImageRequirements(arm, {}), ['`image` must be set when ARM CPU requested'])
  assert.equal(checkImageRequirements(arm, { image: null, docker: null }), ['`image` must be set when ARM CPU requested'])
  assert.equal(checkImageRequirements(arm, { docker: true }), ['`docker: true` is not supported on ARM CPU'])
  assert.equal(checkImageRequirements(arm, { image: 'arm64v8/ubuntu' }), [])
  assert.equal(checkImageRequirements(parseResources({ cpu: 'x86' }), {}), [])
  const both = parseResources({ cpu: 'arm', gpu: 'amd' })
  assert.equal(checkImageRequirements(both, {}), [`${IMAGE_MSG}['amd']`, '`image` must be set when ARM CPU requested'])
})

// -- fuzz -----------------------------------------------------------------------------------------

const ALPHABET = [...'0123456789.:,GBMTgbmt AHLx86arm-']
const text = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 16 })
const scalar = fc.oneof(text, fc.integer({ min: -3, max: 2000 }), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('A100:80GB:2', 'tpu:v5p-8', 'amd:MI300X:8', 'arm:8..', '8GB..', '..', '7.5', 'nvidia', 'tt', 'tpu-v3-8'))
const KEYS = ['cpu', 'memory', 'shm_size', 'gpu', 'disk', 'arch', 'count', 'vendor', 'name', 'total_memory',
  'compute_capability', 'size', 'min', 'max', 'x'] as const
const anything = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' }, scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5 }))
})).value

function fuzz<T> (name: string, parse: (v: unknown) => T, input = anything): void {
  fc.assert(fc.property(input, v => {
    let out: T
    try {
      out = parse(v)
    } catch (err) {
      if (err instanceof ConfigError) return
      throw err
    }
    assert.equal(parse(JSON.parse(JSON.stringify(out))), out, `${name}: re-parse of ${JSON.stringify(out)}`)
  }), { numRuns: 3000 })
}

test('fuzz: every parser throws only ConfigError, and its output parses back to itself', () => {
  fuzz('cpu', parseCpuSpec)
  fuzz('gpu', parseGpuSpec)
  fuzz('disk', parseDiskSpec)
  fuzz('resources', parseResources)
  const mapping = fc.dictionary(fc.constantFrom(...KEYS.slice(0, 5)), anything, { maxKeys: 5 })
  fuzz('resources (mappings)', parseResources, mapping)
  fc.assert(fc.property(anything, v => {
    try {
      formatResources(parseResources(v))
      checkImageRequirements(parseResources(v), {})
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
    }
  }), { numRuns: 1000 })
})

test.run()
