// Accelerator names, vendors and memory as dstack understands them (GPU-NAMES.md): turning what
// nvidia-smi, amd-smi, hl-smi and tt-smi print into dstack's short names, snapping reported
// memory to the known size, and inferring a vendor from the names in a `gpu:` spec. The facts
// (names, sizes, compute capabilities, TPU versions) live in gpus.json; the rules live here.
import table from './gpus.json' with { type: 'json' }
import { fail, show } from './errors.ts'
import { GPU_VENDORS, type GpuVendor } from './types.ts'

export interface KnownGpu {
  vendor: GpuVendor
  name: string
  /** Every size the model ships with, whole GiB. */
  memory_gib: number[]
  /** NVIDIA only; null for every other vendor. */
  compute_capability: [number, number] | null
}

const KNOWN: readonly KnownGpu[] = table.accelerators.map((raw): KnownGpu => {
  const vendor = raw.vendor as GpuVendor
  if (!(GPU_VENDORS as readonly string[]).includes(vendor)) throw new Error(`gpus.json: unknown vendor ${show(raw.vendor)}`)
  const cc = 'compute_capability' in raw ? raw.compute_capability : undefined
  return {
    vendor,
    name: raw.name,
    memory_gib: [...raw.memory_gib],
    compute_capability: Array.isArray(cc) && cc.length === 2 ? [cc[0]!, cc[1]!] : null,
  }
})

const BY_NAME = new Map<string, KnownGpu[]>()
for (const gpu of KNOWN) {
  const key = gpu.name.toLowerCase()
  BY_NAME.set(key, [...(BY_NAME.get(key) ?? []), gpu])
}

const TPU_VERSIONS: ReadonlySet<string> = new Set(table.tpu.versions.map(v => v.toLowerCase()))

function lookup (name: string): readonly KnownGpu[] {
  return BY_NAME.get(name.toLowerCase()) ?? []
}

/** gpuhunt's table entries for a short name, ignoring letter case as gpuhunt's own lookups do. */
export function knownGpus (name: string): KnownGpu[] {
  return lookup(name).map(g => ({
    ...g,
    memory_gib: [...g.memory_gib],
    compute_capability: g.compute_capability ? [g.compute_capability[0], g.compute_capability[1]] : null,
  }))
}

// Python's `\d` and `\w` on str patterns are Unicode-aware; these are their JavaScript spellings.
const PY_DIGIT = String.raw`\p{Nd}`
const PY_WORD = String.raw`[\p{L}\p{N}_]`
const RTX_A_MODEL = new RegExp(`A${PY_DIGIT}+`, 'u')
const NVIDIA_MODEL = new RegExp(`[AHLPTV]${PY_DIGIT}+${PY_WORD}*`, 'u')

/** dstack's short name for an nvidia-smi product name (GPU-NAMES §2.1), e.g. `NVIDIA H100 80GB HBM3` → `H100`. */
export function normalizeNvidiaName (reported: string): string {
  let name = reported
  for (const brand of ['NVIDIA ', 'Tesla ', 'Quadro ', 'GeForce ']) name = name.replaceAll(brand, '')
  if (name.includes('GH200')) return 'GH200'
  if (name.includes('RTX A')) {
    name = name.replaceAll('RTX A', 'A')
    return RTX_A_MODEL.exec(name)?.[0] ?? name.replaceAll(' ', '')
  }
  name = name.replaceAll(' Ti', 'Ti')
  name = name.replace(/ ?super/giu, 'SUPER')
  name = name.replaceAll(' NVL', 'NVL')
  name = name.replaceAll(' Ada Generation', 'Ada')
  name = name.replaceAll('RTX ', 'RTX')
  return NVIDIA_MODEL.exec(name)?.[0] ?? name.replaceAll(' ', '')
}

// ASCII-only and case-insensitive (Python's re.ASCII | re.I): without the `u` flag, JavaScript's
// `i` folds only ASCII letters here, and `\w` is ASCII; `\s` is spelled out to stay ASCII.
const AMD_INSTINCT = /^(?:AMD )?(?:Instinct )?(MI\d{1,3}[A-Z]?(?:-\w+)?)(?:[ \t\n\r\f\v]|$)/i

/** dstack's short name for an amd-smi market name (GPU-NAMES §2.2): the leading Instinct model, else unchanged. */
export function normalizeAmdName (reported: string): string {
  const name = AMD_INSTINCT.exec(reported)?.[1] ?? reported
  // Old amd-smi's hard-coded table says `MI300X-O`; the fix-up is deliberately case-sensitive.
  return name === 'MI300X-O' ? 'MI300X' : name
}

const GAUDI_MODELS: ReadonlyArray<readonly [string, string]> = [
  ['HL-205', 'Gaudi'],
  ['HL-225', 'Gaudi2'],
  ['HL-325', 'Gaudi3'], // OAM
  ['HL-338', 'Gaudi3'], // PCIe
]

/** Gaudi's market name for an hl-smi model number (GPU-NAMES §2.3); other names are kept. */
export function normalizeIntelName (reported: string): string {
  for (const [prefix, market] of GAUDI_MODELS) if (reported.startsWith(prefix)) return market
  return reported
}

/** The server's conversion of a host's reported name (GPU-NAMES §1 step 2): no vendor means nvidia; tenstorrent, google and others pass through. */
export function normalizeGpuName (vendor: GpuVendor | null | undefined, reported: string): string {
  switch (vendor ?? 'nvidia') {
    case 'nvidia': return normalizeNvidiaName(reported)
    case 'amd': return normalizeAmdName(reported)
    case 'intel': return normalizeIntelName(reported)
    default: return reported
  }
}

function splitTtBoardType (boardType: string): { name: string, suffix: '' | 'L' | 'R' } {
  let rest = boardType.trim()
  let suffix: '' | 'L' | 'R' = ''
  if (rest.endsWith(' L') || rest.endsWith(' R')) {
    suffix = rest.endsWith('L') ? 'L' : 'R'
    rest = rest.slice(0, -2).trim()
  }
  return { name: normalizeTtBoardName(rest), suffix }
}

function normalizeTtBoardName (name: string): string {
  if (name === 'bh-scrappy' || name === 'p100') return 'p100a'
  if (name.startsWith('p150')) return 'p150'
  if (name.startsWith('p300')) return 'p300'
  return name
}

function ttChipMemoryGib (name: string): number {
  if (name.startsWith('n150') || name.startsWith('n300') || name.startsWith('tt-galaxy-wh')) return 12
  if (name === 'p100a') return 28
  if (name === 'p150' || name === 'p300' || name === 'tt-galaxy-bh') return 32
  return 0
}

function isBlackhole (name: string): boolean {
  return name === 'p100a' || name === 'p150' || name === 'p300' || name === 'tt-galaxy-bh'
}

function isRemoteChip (busId: string): boolean {
  return busId.trim().toUpperCase() === 'N/A'
}

/**
 * The devices the shim reports for tt-smi's chips (GPU-NAMES §2.4): a Wormhole L chip and its R
 * chip are one device, a Blackhole chip reachable only over another chip (bus_id N/A) adds to it.
 */
export function tenstorrentDevices (boards: Array<{ board_type: string, board_id: string, bus_id: string }>): Array<{ name: string, memory_gib: number }> {
  // The passes and their order are the shim's (`getGpusFromTtSmiSnapshot`), so devices come out
  // in the same order: every L chip first, then the chips with no suffix.
  const chips = boards.map(b => ({ ...splitTtBoardType(b.board_type), boardId: b.board_id, remote: isRemoteChip(b.bus_id) }))
  const devices: Array<{ name: string, memory_gib: number, boardId: string }> = []
  const add = (name: string, boardId: string): void => { devices.push({ name, memory_gib: ttChipMemoryGib(name), boardId }) }
  for (const c of chips) if (c.suffix === 'L') add(c.name, c.boardId)
  for (const c of chips) {
    if (c.suffix !== 'R') continue
    const host = devices.find(d => d.boardId === c.boardId && (d.name === c.name || !isBlackhole(c.name)))
    if (host) host.memory_gib += ttChipMemoryGib(c.name)
  }
  for (const c of chips) {
    if (c.suffix !== '') continue
    if (isBlackhole(c.name)) {
      if (!c.remote) add(c.name, c.boardId)
      continue
    }
    const host = devices.find(d => d.boardId === c.boardId)
    if (host) host.memory_gib += ttChipMemoryGib(c.name)
    else add(c.name, c.boardId)
  }
  for (const c of chips) {
    if (c.suffix !== '' || !isBlackhole(c.name) || !c.remote) continue
    const host = devices.find(d => d.boardId === c.boardId && d.name === c.name)
    if (host) host.memory_gib += ttChipMemoryGib(c.name)
  }
  return devices.map(d => ({ name: d.name, memory_gib: d.memory_gib }))
}

/** Python's `round(x)`: nearest integer, ties to even (JavaScript's Math.round sends ties up). */
function roundHalfEven (x: number): number {
  const floor = Math.floor(x)
  const frac = x - floor // exact for doubles
  const r = frac > 0.5 ? floor + 1 : frac < 0.5 ? floor : (floor % 2 === 0 ? floor : floor + 1)
  return r === 0 ? 0 : r // never -0
}

/** gpuhunt's `correct_gpu_memory_gib` (GPU-NAMES §4): whole GiB, snapped to a known size within 7% of it, else rounded half-to-even. */
export function snapGpuMemoryGib (name: string, mib: number): number {
  const gib = mib / 1024
  let closest: number | undefined
  for (const gpu of lookup(name)) {
    for (const known of gpu.memory_gib) {
      if (closest === undefined || Math.abs(known - gib) < Math.abs(closest - gib)) closest = known
    }
  }
  // gpuhunt also lists the TPU versions with memory 0, where Python divides by zero and raises;
  // a zero size cannot anchor a ratio, so such a name (and any other) just rounds.
  if (closest !== undefined && closest > 0 && Math.abs(closest - gib) / closest < 0.07) return closest
  return roundHalfEven(gib)
}

const PY_FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i

/** The GPU memory in a host_info.json, MiB: older shims send a string such as `"81559 MiB"` (GPU-NAMES §1 step 3). */
export function parseReportedMemoryMib (v: number | string): number {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v
    return fail(`expected GPU memory in MiB, got ${show(v)}`)
  }
  const text = v.toLowerCase().replaceAll('mib', '').trim()
  if (!PY_FLOAT.test(text)) return fail(`expected GPU memory in MiB, got ${show(v)}`)
  return Number(text)
}

/** A GCP TPU name, `<version>-<cores>` (GPU-NAMES §5.1 step 3); like dstack, lowercases first, and counts only ASCII digits. */
export function isTpuName (name: string): boolean {
  const lower = name.toLowerCase()
  const dash = lower.indexOf('-')
  if (dash < 0) return false
  return TPU_VERSIONS.has(lower.slice(0, dash)) && /^[0-9]+$/.test(lower.slice(dash + 1))
}

/** The vendors a `gpu:` name can mean (dstack's `detect_gpu_vendors_by_gpu_name`, GPU-NAMES §5.1); empty for an unknown name. */
export function gpuVendorsOfName (name: string): Set<GpuVendor> {
  const vendors = new Set<GpuVendor>()
  for (const gpu of lookup(name)) if (gpu.vendor !== 'google') vendors.add(gpu.vendor)
  if (isTpuName(name)) vendors.add('google')
  return vendors
}

/** The vendor the server infers from a spec's names (GPU-NAMES §5.2 case 4): only when every name is known and all share one vendor. */
export function gpuVendorOfNames (names: string[]): GpuVendor | null {
  const all = new Set<GpuVendor>()
  for (const name of names) {
    const vendors = gpuVendorsOfName(name)
    if (vendors.size === 0) return null
    for (const v of vendors) all.add(v)
  }
  return all.size === 1 ? [...all][0]! : null
}

/** A model's CUDA compute capability from gpuhunt's NVIDIA table (any letter case); null for unknown and non-NVIDIA names. */
export function computeCapabilityOf (name: string): [number, number] | null {
  const gpu = lookup(name).find(g => g.vendor === 'nvidia' && g.compute_capability !== null)
  return gpu?.compute_capability ? [gpu.compute_capability[0], gpu.compute_capability[1]] : null
}

/** Whether a GPU satisfies a minimum compute capability (GPU-NAMES §6): only known NVIDIA models can; a missing vendor means nvidia. */
export function meetsComputeCapability (gpu: { vendor: GpuVendor | null, name: string }, required: [number, number]): boolean {
  if ((gpu.vendor ?? 'nvidia') !== 'nvidia') return false
  const cc = computeCapabilityOf(gpu.name)
  if (cc === null) return false
  return cc[0] !== required[0] ? cc[0] > required[0] : cc[1] >= required[1]
}

/** Whether dstack's default (CUDA) image runs on a vendor's accelerators (GPU-NAMES §7 item 7): only nvidia and google. */
export function defaultImageSupports (vendor: GpuVendor): boolean {
  return vendor === 'nvidia' || vendor === 'google'
}
