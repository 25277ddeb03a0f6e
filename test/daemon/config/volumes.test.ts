import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { normalizeMountPath, parseMountPoint, volumeNameForNode } from '../../../daemon/config/volumes.ts'
import type { MountPoint } from '../../../daemon/config/types.ts'
import { fails, orConfigError } from './helpers.ts'

const VALID: Array<[string, unknown, MountPoint]> = [
  ['a name source is a network volume', 'my-vol:/data', { name: 'my-vol', path: '/data' }],
  ['a source with / is an instance mount', '/mnt/cache:/root/.cache', { instance_path: '/mnt/cache', path: '/root/.cache', optional: false }],
  ['a relative-looking source with / is still an instance mount (rejected below when not absolute)', '/x:/y', { instance_path: '/x', path: '/y', optional: false }],
  ['duplicate slashes are removed', 'v://data//x', { name: 'v', path: '/data/x' }],
  ['"." segments are removed', 'v:/./data/./x', { name: 'v', path: '/data/x' }],
  ['a trailing / is removed', '//host//:/data/', { instance_path: '/host', path: '/data', optional: false }],
  ['"/" stays "/"', 'v:/', { name: 'v', path: '/' }],
  ['"/./" is "/"', '/./:/./', { instance_path: '/', path: '/', optional: false }],
  ['a name with the node-rank template', 'data-${{ dstack.node_rank }}:/data', { name: 'data-${{ dstack.node_rank }}', path: '/data' }],
  ['a name with the job-num template', 'data-${{dstack.job_num}}:/data', { name: 'data-${{dstack.job_num}}', path: '/data' }],
  ['object: a network volume', { name: 'v', path: '/data/' }, { name: 'v', path: '/data' }],
  ['object: any one of several volumes', { name: ['v-aws', 'v-gcp'], path: '/data' }, { name: ['v-aws', 'v-gcp'], path: '/data' }],
  ['object: an instance mount', { instance_path: '/mnt//x', path: '/x' }, { instance_path: '/mnt/x', path: '/x', optional: false }],
  ['object: an optional instance mount', { instance_path: '/mnt', path: '/x', optional: true }, { instance_path: '/mnt', path: '/x', optional: true }],
  ['object: optional as "yes"', { instance_path: '/mnt', path: '/x', optional: 'yes' }, { instance_path: '/mnt', path: '/x', optional: true }],
  ['object: optional null is false', { instance_path: '/mnt', path: '/x', optional: null }, { instance_path: '/mnt', path: '/x', optional: false }]
]

for (const [rule, input, expected] of VALID) {
  test(`volumes: ${rule}`, () => assert.equal(parseMountPoint(input), expected))
}

const INVALID: Array<[string, unknown, RegExp, Array<string | number>]> = [
  ['no colon', '/data', /exactly one colon.*"\/data"/, []],
  ['two colons', 'a:/b:/c', /exactly one colon/, []],
  ['an empty source', ':/data', /expected a volume name, got ""/, []],
  ['a relative destination', 'v:data', /path must be absolute, got "data"/, []],
  ['an empty destination', 'v:', /expected an absolute path, got an empty string/, []],
  ['".." in the destination', 'v:/data/../etc', /must not contain "\.\."/, []],
  ['".." in the instance path', '/mnt/../etc:/x', /must not contain "\.\."/, []],
  ['a relative instance path', 'mnt/cache:/x', /path must be absolute, got "mnt\/cache"/, []],
  ['"~" instance path', '~/cache:/x', /path must be absolute/, []],
  ['a template from another namespace in a name', '${{ secrets.v }}:/x', /secrets\.v cannot be used in network volume names: it is allowed only in env values and registry_auth; in network volume names only dstack may be used/, []],
  ['an unknown dstack name', 'v-${{ dstack.rank }}:/x', /unknown reference dstack\.rank/, []],
  ['an unclosed template in a name', 'v-${{ dstack.node_rank:/x', /exactly one colon|unclosed/, []],
  ['object: missing path', { name: 'v' }, /is required/, ['path']],
  ['object: missing name and instance_path', { path: '/x' }, /expected \{name, path\}.*or \{instance_path, path\}/, []],
  ['object: name and instance_path together', { name: 'v', instance_path: '/m', path: '/x' }, /mutually exclusive/, []],
  ['object: an unknown key', { name: 'v', path: '/x', readonly: true }, /unknown field "readonly"/, ['readonly']],
  ['object: optional on a network volume', { name: 'v', path: '/x', optional: true }, /unknown field "optional"/, ['optional']],
  ['object: an empty name list', { name: [], path: '/x' }, /non-empty list/, ['name']],
  ['object: an empty name in the list', { name: ['a', ''], path: '/x' }, /expected a volume name, got ""/, ['name', 1]],
  ['object: a nested list name', { name: [['a']], path: '/x' }, /expected a volume name/, ['name', 0]],
  ['object: a bad optional', { instance_path: '/m', path: '/x', optional: 'maybe' }, /expected true or false/, ['optional']],
  ['object: a relative instance_path', { instance_path: 'm', path: '/x' }, /must be absolute/, ['instance_path']],
  ['a number', 5, /expected a mount point/, []],
  ['null', null, /expected a mount point.*got null/, []]
]

for (const [rule, input, message, path] of INVALID) {
  test(`volumes: ${rule} is an error`, () => fails(() => parseMountPoint(input), message, path))
}

test('normalizeMountPath: the normal form', () => {
  assert.is(normalizeMountPath('/a//b/./c/'), '/a/b/c')
  assert.is(normalizeMountPath('///'), '/')
  assert.is(normalizeMountPath('/a..b/..c'), '/a..b/..c')
})

test('volumeNameForNode: both templates give the node rank', () => {
  assert.is(volumeNameForNode('data-${{ dstack.node_rank }}', 3), 'data-3')
  assert.is(volumeNameForNode('d${{ dstack.job_num }}-${{dstack.node_rank}}', 0), 'd0-0')
  assert.is(volumeNameForNode('plain', 5), 'plain')
  fails(() => volumeNameForNode('v-${{ secrets.x }}', 1), /secrets\.x is not set/)
})

// Fuzz: random strings over a small alphabet and random nested values. (No null-prototype
// mappings: show() in errors.ts cannot print one that holds a BigInt; YAML gives neither.)
const ALPHABET = [...':/.@*0123456789ab~=${} ']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 20 })
const pathLike = fc.array(fc.constantFrom('/', '//', '.', '..', 'a', 'b.c', ':', '${{ dstack.node_rank }}'), { maxLength: 8 }).map(a => a.join(''))
const key = fc.oneof(fc.constantFrom('name', 'path', 'instance_path', 'optional'), str)
const { value } = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    str, pathLike, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt(),
    fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }))
}))

test('volumes fuzz: only ConfigError, and a normalized mount point parses to itself', () => {
  let valid = 0
  fc.assert(fc.property(value, v => {
    const out = orConfigError(() => parseMountPoint(v))
    if (out === undefined) return
    valid++
    assert.equal(parseMountPoint(out), out)
    for (const p of 'instance_path' in out ? [out.instance_path, out.path] : [out.path]) {
      assert.ok(p === '/' || (/^\/[^]*[^/]$/.test(p) && !p.includes('//') && !p.split('/').includes('.')), p)
    }
  }), { numRuns: 4000 })
  assert.ok(valid > 0)
})

test.run()
