// The `resources` block (SPEC §2.2–2.5): cpu, memory, shm_size, gpu and disk, their short string
// syntaxes and defaults, the one-line display, and the server-side vendor and image checks.
import { ConfigError, fail, nearest, show } from './errors.ts'
import type { ConfigIssue, Path } from './errors.ts'
import { defaultImageSupports, gpuVendorOfNames, gpuVendorsOfName } from './gpus.ts'
import { formatMemory, formatRange, parseCount, parseMemory, parseRange } from './range.ts'
import { isMapping } from './scalars.ts'
import { GPU_VENDORS } from './types.ts'
import type { CpuArch, CpuSpec, DiskSpec, GpuSpec, GpuVendor, Range, ResourcesSpec } from './types.ts'

const CPU_KEYS = ['arch', 'count'] as const
const GPU_KEYS = ['vendor', 'name', 'count', 'memory', 'total_memory', 'compute_capability'] as const
const DISK_KEYS = ['size'] as const
const RESOURCES_KEYS = ['cpu', 'memory', 'shm_size', 'gpu', 'disk'] as const

/** Vendor words in a `gpu` spec, matched ignoring case; `tpu` and `tt` are aliases. */
const VENDOR_WORDS = new Map<string, GpuVendor>([
  ...GPU_VENDORS.map(v => [v, v] as const),
  ['tpu', 'google'],
  ['tt', 'tenstorrent']
])

/** `cpu 2..`, `memory 8GB..`, `gpu 0..` (GPUs optional), `disk 100GB..`; a fresh object each call. */
export function defaultResources (): ResourcesSpec {
  return {
    cpu: defaultCpuSpec(),
    memory: { min: 8, max: null },
    shm_size: null,
    gpu: defaultGpuSpec(),
    disk: { size: { min: 100, max: null } }
  }
}

function defaultCpuSpec (): CpuSpec {
  return { arch: null, count: { min: 2, max: null } }
}

/** The spec used when `gpu` is absent or null: count `0..`, so GPU and CPU-only offers both qualify. */
export function defaultGpuSpec (): GpuSpec {
  return { vendor: null, name: null, count: { min: 0, max: null }, memory: null, total_memory: null, compute_capability: null }
}

// -- shared helpers for the object forms --------------------------------------------------------

function unknownKeys (v: Record<string, unknown>, known: readonly string[]): ConfigIssue[] {
  return Object.keys(v).filter(k => !known.includes(k)).map(k => {
    const near = nearest(k, known)
    return { path: [k], key: true, message: `unknown field ${show(k)}${near ? ` (did you mean ${show(near)}?)` : ''}` }
  })
}

/** Runs `f`, collecting its ConfigError under `path` instead of throwing. */
function collect<T> (issues: ConfigIssue[], path: Path, f: () => T): T | undefined {
  try {
    return f()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    issues.push(...err.under(path).issues)
    return undefined
  }
}

/** Re-throws an error about one token of a short spec with the whole spec quoted. */
function inSpec<T> (spec: string, f: () => T): T {
  try {
    return f()
  } catch (err) {
    if (err instanceof ConfigError) fail(`${show(spec)}: ${err.issues.map(i => i.message).join('; ')}`)
    throw err
  }
}

const isAbsent = (v: unknown): v is null | undefined => v === null || v === undefined

// -- cpu ------------------------------------------------------------------------------------------

function parseArch (v: unknown): CpuArch {
  const word = typeof v === 'string' ? v.trim().toLowerCase() : undefined
  if (word === 'x86' || word === 'arm') return word
  return fail(`unknown CPU arch ${show(v)} (expected x86 or arm)`)
}

/**
 * `cpu`: an int N (count N..N), a string of `:`-separated tokens in any order (a count: digits or
 * a range with `..`; an arch: x86 or arm, any case), or `{arch?, count?}`. A mapping with only
 * `min`/`max` is the count. Absent parts default to arch unset and count `2..`.
 */
export function parseCpuSpec (v: unknown): CpuSpec {
  if (isAbsent(v)) return defaultCpuSpec()
  if (typeof v === 'number') return { arch: null, count: parseRange(v, 'count') }
  if (typeof v === 'string') {
    const spec: { arch?: CpuArch, count?: Range } = {}
    for (const token of v.replace(/\s+/g, '').split(':')) {
      if (token === '') fail(`${show(v)} has an empty token`)
      if (/^\d+$/.test(token) || token.includes('..') || /^[-+.\d]/.test(token)) {
        if (spec.count) fail(`${show(v)} has two counts`)
        spec.count = inSpec(v, () => parseRange(token, 'count'))
      } else {
        if (spec.arch) fail(`${show(v)} has two arches`)
        spec.arch = inSpec(v, () => parseArch(token))
      }
    }
    return { arch: spec.arch ?? null, count: spec.count ?? defaultCpuSpec().count }
  }
  if (isMapping(v)) {
    const keys = Object.keys(v)
    if (keys.length > 0 && keys.every(k => k === 'min' || k === 'max')) return { arch: null, count: parseRange(v, 'count') }
    const issues = unknownKeys(v, CPU_KEYS)
    const arch = isAbsent(v.arch) ? null : collect(issues, ['arch'], () => parseArch(v.arch))
    const count = isAbsent(v.count) ? defaultCpuSpec().count : collect(issues, ['count'], () => parseRange(v.count, 'count'))
    if (issues.length) throw new ConfigError(issues)
    return { arch: arch ?? null, count: count ?? defaultCpuSpec().count }
  }
  return fail(`expected a CPU spec such as 4, "8..", "arm:16" or {arch, count}, got ${show(v)}`)
}

// -- gpu ------------------------------------------------------------------------------------------

function parseVendor (v: unknown): GpuVendor {
  const word = typeof v === 'string' ? v.trim().toLowerCase() : undefined
  const vendor = word === undefined ? undefined : VENDOR_WORDS.get(word)
  if (vendor) return vendor
  const near = word ? nearest(word, [...VENDOR_WORDS.keys()]) : undefined
  return fail(`unknown GPU vendor ${show(v)}${near ? ` (did you mean ${show(near)}?)` : ''}; expected one of ${GPU_VENDORS.join(', ')}`)
}

/** Removes the deprecated `tpu-` prefix (every repetition, so that normalizing twice changes nothing). */
function stripTpuPrefix (name: string): string {
  while (name.startsWith('tpu-')) name = name.slice(4)
  return name
}

function parseGpuName (v: unknown): string {
  if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) fail(`expected a GPU name, got ${show(v)}`)
  const name = stripTpuPrefix(String(v).trim())
  if (name === '') fail(`a GPU name cannot be empty, got ${show(v)}`)
  return name
}

function parseGpuNames (v: unknown): string[] | null {
  const list = Array.isArray(v) ? v : [v]
  const issues: ConfigIssue[] = []
  const names = list.map((n, i) => collect(issues, Array.isArray(v) ? [i] : [], () => parseGpuName(n)))
  if (issues.length) throw new ConfigError(issues)
  return names.length ? names as string[] : null
}

/** "7.5", 7.5 or [7, 5]: a minimum, as [major, minor]. A bare integer is ambiguous and rejected. */
export function parseComputeCapability (v: unknown): [number, number] {
  const bad = (): never => fail(`expected a compute capability such as "7.5", 7.5 or [7, 5], got ${show(v)}`)
  let parts: unknown[]
  if (typeof v === 'number') {
    if (Number.isInteger(v)) fail(`a compute capability needs a minor version: write "${v}.0" or [${v}, 0], not ${show(v)}`)
    if (!Number.isFinite(v)) bad()
    parts = String(v).split('.')
  } else if (typeof v === 'string') {
    parts = v.trim().split('.')
  } else if (Array.isArray(v)) {
    parts = v
  } else {
    return bad()
  }
  if (parts.length !== 2) bad()
  const pair = parts.map(p => {
    if (typeof p === 'number' && Number.isSafeInteger(p) && p >= 0) return p
    if (typeof p === 'string' && /^\d{1,6}$/.test(p.trim())) return Number(p.trim())
    return bad()
  })
  return [pair[0]!, pair[1]!]
}

/** One `:`-token of a short GPU spec, classified as vendor → name list → memory → count. */
type GpuToken = { kind: 'vendor', value: GpuVendor } | { kind: 'name', value: string[] } | { kind: 'memory', value: Range } | { kind: 'count', value: Range }

function classifyGpuToken (token: string, spec: string): GpuToken {
  const vendor = VENDOR_WORDS.get(token.toLowerCase())
  if (vendor) return { kind: 'vendor', value: vendor }
  if (/^\p{L}/u.test(token)) {
    const names = token.split(',')
    if (names.some(n => n === '')) fail(`${show(spec)} has an empty GPU name`)
    return { kind: 'name', value: names.map(n => inSpec(spec, () => parseGpuName(n))) }
  }
  if (/\p{L}/u.test(token)) return { kind: 'memory', value: inSpec(spec, () => parseRange(token, 'memory')) }
  return { kind: 'count', value: inSpec(spec, () => parseRange(token, 'count')) }
}

const KIND_PLURAL = { vendor: 'vendors', name: 'name lists', memory: 'memory sizes', count: 'counts' } as const

function parseGpuString (v: string): GpuSpec {
  const spec = defaultGpuSpec()
  const seen = new Set<GpuToken['kind']>()
  for (const token of v.replace(/\s+/g, '').split(':')) {
    if (token === '') fail(`${show(v)} has an empty token`)
    const t = classifyGpuToken(token, v)
    if (seen.has(t.kind)) fail(`GPU spec ${t.kind} conflict: ${show(v)} has two ${KIND_PLURAL[t.kind]}`)
    seen.add(t.kind)
    if (t.kind === 'vendor') spec.vendor = t.value
    else if (t.kind === 'name') spec.name = t.value
    else if (t.kind === 'memory') spec.memory = t.value
    else spec.count = t.value
  }
  if (!seen.has('count')) spec.count = { min: 1, max: null }
  return spec
}

/**
 * `gpu`: an int N (N GPUs; 0 means none), a short string such as `A100:80GB:2` or
 * `amd:MI300X:8`, or `{vendor, name, count, memory, total_memory, compute_capability}`.
 * Given without a count, the count is `1..`. Absent or null gives the `0..` default.
 */
export function parseGpuSpec (v: unknown): GpuSpec {
  if (isAbsent(v)) return defaultGpuSpec()
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) fail(`expected a GPU count (a whole number) or a spec such as "A100:2", got ${show(v)}`)
    const n = parseCount(v)
    return { ...defaultGpuSpec(), count: { min: n, max: n } }
  }
  if (typeof v === 'string') return parseGpuString(v)
  if (isMapping(v)) {
    const issues = unknownKeys(v, GPU_KEYS)
    const spec = defaultGpuSpec()
    spec.count = { min: 1, max: null }
    if (!isAbsent(v.vendor)) spec.vendor = collect(issues, ['vendor'], () => parseVendor(v.vendor)) ?? null
    if (!isAbsent(v.name)) spec.name = collect(issues, ['name'], () => parseGpuNames(v.name)) ?? null
    if (!isAbsent(v.count)) spec.count = collect(issues, ['count'], () => parseRange(v.count, 'count')) ?? spec.count
    if (!isAbsent(v.memory)) spec.memory = collect(issues, ['memory'], () => parseRange(v.memory, 'memory')) ?? null
    if (!isAbsent(v.total_memory)) spec.total_memory = collect(issues, ['total_memory'], () => parseRange(v.total_memory, 'memory')) ?? null
    if (!isAbsent(v.compute_capability)) {
      spec.compute_capability = collect(issues, ['compute_capability'], () => parseComputeCapability(v.compute_capability)) ?? null
    }
    if (issues.length) throw new ConfigError(issues)
    return spec
  }
  return fail(`expected a GPU spec such as 1, "A100", "24GB..:2", "amd:MI300X:8" or a mapping, got ${show(v)}`)
}

// -- disk, shm_size -----------------------------------------------------------------------------

/** `disk`: a size or a range (`100GB`, `100GB..`), or `{size}`. */
export function parseDiskSpec (v: unknown): DiskSpec {
  if (typeof v === 'number' || typeof v === 'string') return { size: parseRange(v, 'memory') }
  if (isMapping(v)) {
    const issues = unknownKeys(v, DISK_KEYS)
    if (isAbsent(v.size)) issues.push({ path: ['size'], message: 'size is required' })
    const size = isAbsent(v.size) ? undefined : collect(issues, ['size'], () => parseRange(v.size, 'memory'))
    if (issues.length) throw new ConfigError(issues)
    return { size: size! }
  }
  return fail(`expected a disk size such as 100GB, 100GB.. or {size: 100GB..}, got ${show(v)}`)
}

function parseShmSize (v: unknown): number {
  if (isMapping(v) || (typeof v === 'string' && v.includes('..'))) fail(`shm_size is a single size, not a range, got ${show(v)}`)
  return parseMemory(v)
}

// -- resources ------------------------------------------------------------------------------------

/**
 * The `resources` mapping. Absent (undefined) gives the defaults; null is an error (what YAML gives
 * when every sub-key is commented out). Absent or null `cpu`, `memory` and `gpu` take their
 * defaults; `disk: null` means no disk requirement. Every field's issues are reported together.
 */
export function parseResources (v: unknown): ResourcesSpec {
  if (v === undefined) return defaultResources()
  if (v === null) fail('resources must be a mapping, not null (every sub-key commented out?)')
  if (!isMapping(v)) fail(`resources must be a mapping, got ${show(v)}`)
  const issues = unknownKeys(v, RESOURCES_KEYS)
  const out = defaultResources()
  out.cpu = collect(issues, ['cpu'], () => parseCpuSpec(v.cpu)) ?? out.cpu
  if (!isAbsent(v.memory)) out.memory = collect(issues, ['memory'], () => parseRange(v.memory, 'memory')) ?? out.memory
  if (!isAbsent(v.shm_size)) out.shm_size = collect(issues, ['shm_size'], () => parseShmSize(v.shm_size)) ?? null
  out.gpu = collect(issues, ['gpu'], () => parseGpuSpec(v.gpu)) ?? out.gpu
  if (v.disk === null) out.disk = null
  else if (v.disk !== undefined) out.disk = collect(issues, ['disk'], () => parseDiskSpec(v.disk)) ?? out.disk
  if (issues.length) throw new ConfigError(issues)
  return out
}

/** The GPU part of the display: names, per-GPU memory, count, total memory, compute capability. */
export function formatGpuSpec (gpu: GpuSpec): string {
  const parts: string[] = []
  if (gpu.name?.length) parts.push(gpu.name.join(','))
  if (gpu.memory) parts.push(formatRange(gpu.memory, 'GB'))
  parts.push(formatRange(gpu.count))
  if (gpu.total_memory) parts.push(formatRange(gpu.total_memory, 'GB'))
  if (gpu.compute_capability) parts.push(gpu.compute_capability.join('.'))
  return parts.join(':')
}

/**
 * One line, as dstack's `pretty_format`: `cpu=2.. mem=8GB.. disk=100GB.. gpu=0..`, with `arm:` before
 * an ARM cpu count, `shm=` after mem when set, and the GPU as `gpu=A100:80GB:2`. The vendor and an
 * x86 arch are not shown (as in dstack).
 */
export function formatResources (r: ResourcesSpec): string {
  const parts = [`cpu=${r.cpu.arch === 'arm' ? 'arm:' : ''}${formatRange(r.cpu.count)}`, `mem=${formatRange(r.memory, 'GB')}`]
  if (r.shm_size !== null) parts.push(`shm=${formatMemory(r.shm_size)}`)
  if (r.disk) parts.push(`disk=${formatRange(r.disk.size, 'GB')}`)
  parts.push(`gpu=${formatGpuSpec(r.gpu)}`)
  return parts.join(' ')
}

// -- server-side defaulting (§2.5) ----------------------------------------------------------------

/** Which base image a run (or a group) ends up with: no `image` and no `docker: true` is dstack's default CUDA image. */
export interface ImageChoice { image?: string | null, docker?: boolean | null }

function usesDefaultImage (image: ImageChoice): boolean {
  return (image.image === undefined || image.image === null) && image.docker !== true
}

/**
 * Fills in an unset vendor (GPU-NAMES §5.2): when every name is known and all share one vendor,
 * that vendor; with no names and the default image, nvidia. Nothing when no GPU is wanted.
 */
export function inferGpuVendor (gpu: GpuSpec, image: ImageChoice): GpuSpec {
  if (gpu.vendor !== null || gpu.count.max === 0) return gpu
  const vendor = gpu.name?.length ? gpuVendorOfNames(gpu.name) : usesDefaultImage(image) ? 'nvidia' : null
  return vendor === null ? gpu : { ...gpu, vendor }
}

/**
 * The errors dstack's server raises for a resources spec and its image (§2.5), in its words:
 * AMD, Intel and Tenstorrent accelerators (by explicit vendor, or by known name; unknown names
 * pass) need an `image`; ARM needs an `image` and forbids `docker: true`. Group prefixes are the
 * caller's.
 */
export function checkImageRequirements (resources: ResourcesSpec, image: ImageChoice): string[] {
  const errors: string[] = []
  const gpu = resources.gpu
  if (usesDefaultImage(image) && gpu.count.max !== 0) {
    const vendors = new Set<GpuVendor>()
    if (gpu.vendor !== null) vendors.add(gpu.vendor)
    else for (const name of gpu.name ?? []) for (const v of gpuVendorsOfName(name)) vendors.add(v)
    const unsupported = [...vendors].filter(v => !defaultImageSupports(v)).sort()
    if (unsupported.length) {
      errors.push('`image` must be set when the requested accelerator is not supported by the default image: ' +
        `[${unsupported.map(v => `'${v}'`).join(', ')}]`)
    }
  }
  if (resources.cpu.arch === 'arm') {
    if (image.docker === true) errors.push('`docker: true` is not supported on ARM CPU')
    else if (image.image === undefined || image.image === null) errors.push('`image` must be set when ARM CPU requested')
  }
  return errors
}
