// Matching an offer (a cloud instance type or a fleet host) against run requirements (SPEC §2.6),
// combining a fleet's requirements with a run's, and splitting a host into blocks.
import { meetsComputeCapability } from './gpus.ts'
import type { SpotPolicy } from './profile.ts'
import { formatMemory, formatRange, intersectRanges, rangeContains } from './range.ts'
import type { CpuArch, CpuSpec, DiskSpec, GpuSpec, GpuVendor, Range, ResourcesSpec } from './types.ts'

export interface OfferGpu {
  vendor: GpuVendor
  name: string
  /** GB. */
  memory: number
}

export interface Offer {
  backend: string
  region: string
  instance_type: string
  /** Per hour, for the whole offer (a block share keeps the instance's price). */
  price: number
  spot: boolean
  /** null when unknown; counts as x86. */
  cpu_arch: CpuArch | null
  cpus: number
  /** GB. */
  memory: number
  /** GB; 0 = unknown (the disk check passes). */
  disk: number
  gpus: OfferGpu[]
  /** The fleet the instance is in, when not the mesh's own (`local`): an SSH fleet's name. */
  fleet?: string
  /** For a share of a blocks instance: how many blocks it takes, of how many. */
  blocks?: number
  total_blocks?: number
  /**
   * The container engine jobs can run in there (`docker 20.10.24`); null: none (no engine
   * answers, or the host runs jobs as processes only). Absent: not known, counted as there.
   */
  container_engine?: string | null
  /** Every job runs in a container there (`dstackd run --runtime docker`). */
  containers_only?: boolean
}

export interface Requirements {
  resources: ResourcesSpec
  /** true: spot only; false: on-demand only; null: either (spot_policy auto). */
  spot: boolean | null
  max_price: number | null
  reservation: string | null
  /** The jobs run in a container (needsContainer), so they need a container engine. */
  container?: boolean
  /** The run's `fleets`: only instances of these fleets (null or absent: any). */
  fleets?: string[] | null
}

// -- matching -------------------------------------------------------------------------------------

/** Whether an offer satisfies the requirements (§2.6 items 1–6). */
export function offerMatches (offer: Offer, req: Requirements): boolean {
  return offerMismatch(offer, req) === null
}

/** The first reason the offer fails the requirements, for people (`cpus 4 not in 8..`), or null when it matches. */
export function offerMismatch (offer: Offer, req: Requirements): string | null {
  const r = req.resources
  if (req.fleets != null && !req.fleets.includes(offer.fleet ?? 'local')) return `in fleet ${offer.fleet ?? 'local'}, not in ${req.fleets.join(', ')}`
  if (req.max_price !== null && offer.price > req.max_price) return `price ${offer.price} above max_price ${req.max_price}`
  if (req.spot !== null && offer.spot !== req.spot) return req.spot ? 'on-demand offer, spot required' : 'spot offer, on-demand required'
  if (offer.container_engine === null && (req.container === true || offer.containers_only === true)) {
    return req.container === true ? 'no container engine, the job runs in a container' : 'no container engine, and the host runs every job in one'
  }
  const arch = offer.cpu_arch ?? 'x86'
  if (r.cpu.arch !== null && arch !== r.cpu.arch) return `arch ${arch}, ${r.cpu.arch} required`
  if (!rangeContains(r.cpu.count, offer.cpus)) return `cpus ${offer.cpus} not in ${formatRange(r.cpu.count)}`
  if (!rangeContains(r.memory, offer.memory)) return `memory ${formatMemory(offer.memory)} not in ${formatRange(r.memory, 'GB')}`
  const gpu = gpuMismatch(offer.gpus, r.gpu)
  if (gpu !== null) return gpu
  if (r.disk !== null && offer.disk > 0 && !rangeContains(r.disk.size, offer.disk)) {
    return `disk ${formatMemory(offer.disk)} not in ${formatRange(r.disk.size, 'GB')}`
  }
  return null
}

function gpuMismatch (gpus: OfferGpu[], spec: GpuSpec): string | null {
  // GPUs optional and none offered: nothing about them to check. An open lower end counts as 0.
  if ((spec.count.min ?? 0) === 0 && gpus.length === 0) return null
  if (spec.vendor !== null) {
    if (gpus.length === 0) return `no GPU, ${spec.vendor} required`
    const other = gpus.find(g => g.vendor !== spec.vendor)
    if (other) return `gpu vendor ${other.vendor}, ${spec.vendor} required`
  }
  if (!rangeContains(spec.count, gpus.length)) return `gpus ${gpus.length} not in ${formatRange(spec.count)}`
  if (spec.name?.length) {
    if (gpus.length === 0) return `no GPU, ${spec.name.join(',')} required`
    const wanted = new Set(spec.name.map(n => n.toLowerCase()))
    const other = gpus.find(g => !wanted.has(g.name.toLowerCase()))
    if (other) return `gpu ${other.name} not in ${spec.name.join(',')}`
  }
  const cc = spec.compute_capability
  if (cc !== null) {
    if (gpus.length === 0) return `no GPU, compute capability ${cc.join('.')} required`
    const weak = gpus.find(g => !meetsComputeCapability(g, cc))
    if (weak) return `gpu ${weak.vendor} ${weak.name} lacks compute capability ${cc.join('.')}`
  }
  if (spec.memory !== null) {
    const memories = gpus.length ? gpus.map(g => g.memory) : [0]
    const bad = memories.find(m => !rangeContains(spec.memory!, m))
    if (bad !== undefined) return `gpu memory ${formatMemory(bad)} not in ${formatRange(spec.memory, 'GB')}`
  }
  if (spec.total_memory !== null) {
    const total = gpus.reduce((sum, g) => sum + g.memory, 0)
    if (!rangeContains(spec.total_memory, total)) return `total gpu memory ${formatMemory(total)} not in ${formatRange(spec.total_memory, 'GB')}`
  }
  return null
}

// -- fleet + run combination ----------------------------------------------------------------------

const CONFLICT: unique symbol = Symbol('conflict')
type Combined<T> = T | typeof CONFLICT

/** Null on one side takes the other side's value; two values must be equal. */
function single<T> (a: T | null, b: T | null): Combined<T | null> {
  if (a === null) return b
  if (b === null) return a
  return a === b ? a : CONFLICT
}

function minOptional (a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b)
}

function intersect (a: Range, b: Range): Combined<Range> {
  return intersectRanges(a, b) ?? CONFLICT
}

function intersectOptional (a: Range | null, b: Range | null): Combined<Range | null> {
  return a === null ? b : b === null ? a : intersect(a, b)
}

/** Names both sides accept, in the first side's order and spelling; matching ignores case, as offers do. */
function intersectNames (a: string[] | null, b: string[] | null): Combined<string[] | null> {
  if (!a?.length) return b?.length ? [...b] : null
  if (!b?.length) return [...a]
  const other = new Set(b.map(n => n.toLowerCase()))
  const both = a.filter(n => other.has(n.toLowerCase()))
  return both.length ? both : CONFLICT
}

/** Two minimums combine into the stricter one. */
function maxCapability (a: [number, number] | null, b: [number, number] | null): [number, number] | null {
  if (a === null) return b
  if (b === null) return a
  return a[0] !== b[0] ? (a[0] > b[0] ? a : b) : (a[1] >= b[1] ? a : b)
}

function combineCpu (a: CpuSpec, b: CpuSpec): Combined<CpuSpec> {
  const arch = single(a.arch, b.arch)
  const count = intersect(a.count, b.count)
  if (arch === CONFLICT || count === CONFLICT) return CONFLICT
  return { arch, count }
}

function combineGpu (a: GpuSpec, b: GpuSpec): Combined<GpuSpec> {
  const vendor = single(a.vendor, b.vendor)
  const name = intersectNames(a.name, b.name)
  const count = intersect(a.count, b.count)
  const memory = intersectOptional(a.memory, b.memory)
  const total = intersectOptional(a.total_memory, b.total_memory)
  if (vendor === CONFLICT || name === CONFLICT || count === CONFLICT || memory === CONFLICT || total === CONFLICT) return CONFLICT
  return { vendor, name, count, memory, total_memory: total, compute_capability: maxCapability(a.compute_capability, b.compute_capability) }
}

function combineDisk (a: DiskSpec | null, b: DiskSpec | null): Combined<DiskSpec | null> {
  if (a === null || b === null) return a ?? b
  const size = intersect(a.size, b.size)
  return size === CONFLICT ? CONFLICT : { size }
}

function combineResources (a: ResourcesSpec, b: ResourcesSpec): Combined<ResourcesSpec> {
  const cpu = combineCpu(a.cpu, b.cpu)
  const memory = intersect(a.memory, b.memory)
  const gpu = combineGpu(a.gpu, b.gpu)
  const disk = combineDisk(a.disk, b.disk)
  if (cpu === CONFLICT || memory === CONFLICT || gpu === CONFLICT || disk === CONFLICT) return CONFLICT
  return { cpu, memory, shm_size: minOptional(a.shm_size, b.shm_size), gpu, disk }
}

/**
 * What a run needs from a new instance in a fleet: the fleet's requirements (first) and the run's
 * (second) together. Ranges intersect, max_price and shm_size take the min, spot, reservation,
 * vendor and arch must agree (null on one side takes the other's), GPU names intersect in the
 * fleet's order, and compute capability takes the stricter minimum. Null when they are incompatible.
 */
export function combineRequirements (a: Requirements, b: Requirements): Requirements | null {
  const resources = combineResources(a.resources, b.resources)
  const spot = single(a.spot, b.spot)
  const reservation = single(a.reservation, b.reservation)
  if (resources === CONFLICT || spot === CONFLICT || reservation === CONFLICT) return null
  return { resources, spot, max_price: minOptional(a.max_price, b.max_price), reservation }
}

/**
 * Fleet and run spot policies: `auto` yields to the other side, otherwise they must be equal.
 * Null when incompatible. An unset side is the caller's: take the other side's policy.
 */
export function combineSpotPolicy (a: SpotPolicy, b: SpotPolicy): SpotPolicy | null {
  if (a === 'auto') return b
  if (b === 'auto') return a
  return a === b ? a : null
}

/** Idle durations in seconds, negative meaning off: the min of the finite ones, a finite one winning over off. */
export function combineIdleDuration (a: number, b: number): number {
  if (a < 0 && b < 0) return -1
  if (a < 0) return b
  if (b < 0) return a
  return Math.min(a, b)
}

/** Fleet tags and run tags merged; the run's value wins for a key both set. */
export function mergeTags (fleet: Record<string, string> | null, run: Record<string, string> | null): Record<string, string> | null {
  if (fleet === null && run === null) return null
  return { ...fleet, ...run }
}

// -- blocks ---------------------------------------------------------------------------------------

/**
 * How many blocks an instance splits into: `auto` is the CPU count without GPUs, else
 * min(cpus, gpus) (counting a TPU as one GPU is the caller's). Null when the instance is not
 * divisible: fewer than 1 block, or cpus or gpus not a multiple of the block count.
 */
export function resolveBlocks (blocks: number | 'auto', cpus: number, gpus: number): number | null {
  const n = blocks === 'auto' ? (gpus > 0 ? Math.min(cpus, gpus) : cpus) : blocks
  if (!Number.isInteger(n) || n < 1) return null
  return cpus % n === 0 && gpus % n === 0 ? n : null
}

/**
 * The part of an instance that k of its n blocks get: cpus, memory and GPUs each as k times the
 * per-block share (integer division; memory in whole MiB). Disk is shared, the price unchanged.
 */
export function blockShare (offer: Offer, k: number, n: number): Offer {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || k > n) throw new RangeError(`cannot take ${k} of ${n} blocks`)
  const share = (x: number): number => Math.floor(x / n) * k
  const memoryMib = Math.round(offer.memory * 1024)
  return {
    ...offer,
    cpus: share(offer.cpus),
    memory: share(memoryMib) / 1024,
    gpus: offer.gpus.slice(0, share(offer.gpus.length)),
    blocks: k,
    total_blocks: n
  }
}

/** The fewest of an instance's blocks (trying 1, 2, … up to all) whose share matches, or null. */
export function matchingBlocks (offer: Offer, req: Requirements, totalBlocks: number): number | null {
  for (let k = 1; k <= totalBlocks; k++) {
    if (offerMatches(blockShare(offer, k, totalBlocks), req)) return k
  }
  return null
}
