// The scheduler: for every job waiting for a place, feasibility (SPEC §2.6 against each
// instance's offer, minus what its active jobs hold, and no port another job holds there:
// ports.ts) → ranking → select. Pure: state in, decisions out; the controller turns decisions
// into commands.
//
// The leader runs a pass after every change and once a second, over every waiting job, so a
// pass must stay cheap with thousands of jobs and hosts. Two facts make it so: jobs repeat a
// few requirement shapes and hosts a few offers, so feasibility is worked out once per
// (requirements, offer) pair rather than per (job, host); and free capacity only shrinks
// during a pass, so once no host has room for some requirements, no later job with the same
// requirements needs a look either.
import { inferGpuVendor, needsContainer, offerMismatch, spotRequirement, type Offer, type Requirements, type ResourcesSpec, type RunConfiguration } from '../config/index.ts'
import { activeJobs, activeRuns } from '../state/active.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { Instance, Job, Placement, Run, State } from '../state/types.ts'
import { portBook, portsOf, type PortBook } from './ports.ts'

export type Decision =
  | { kind: 'assign', job: Job, submission_id: string, placement: Placement }
  | { kind: 'wait', job: Job, submission_id: string, reason: string }
  | { kind: 'no-capacity', job: Job, submission_id: string, message: string }

interface Free { cpus: number, memory: number, gpus: number }

/**
 * The part of an instance a job takes: the low end of each range it asks for, at most the
 * whole instance. Hosts are shared this way (as Slurm shares nodes), so `gpu: 1` fits on an
 * 8-GPU host and leaves 7 for others; the job is matched against its share, not the host.
 */
export function shareOf (offer: Offer, req: Requirements): Offer {
  const r = req.resources
  return {
    ...offer,
    cpus: Math.min(offer.cpus, r.cpu.count.min ?? 0),
    memory: Math.min(offer.memory, r.memory.min ?? 0),
    gpus: offer.gpus.slice(0, Math.min(offer.gpus.length, r.gpu.count.min ?? 0))
  }
}

/** What a job of configuration `c` asks of a host (its own resources: a group's, say). */
export function requirementsOf (c: RunConfiguration, jobResources: ResourcesSpec = c.resources): Requirements {
  const resources = { ...jobResources, gpu: inferGpuVendor(jobResources.gpu, c) }
  return { resources, spot: spotRequirement(c.spot_policy), max_price: c.max_price, reservation: c.reservation, container: needsContainer(c), fleets: c.fleets }
}

/**
 * The instances jobs can go to (not terminating) and what each has free; an unreachable one
 * has less than nothing, so a job that only it could hold waits for it (it may be back in a
 * moment) rather than failing as if no instance could ever hold it. Kept
 * in flat arrays indexed by the instance's position: the bin-packing scan reads these for
 * every candidate of every job.
 */
interface Pool {
  instances: Instance[]
  index: Map<string, number>
  cpus: Float64Array
  memory: Float64Array
  gpus: Float64Array
  /** Position in instance-id order: the bin-packing tie-break, compared as a number. */
  rank: Int32Array
  /** Instances with equal offers share a shape, so feasibility is checked once per shape. */
  shape: Int32Array
  shapes: Offer[]
  /** Counts takes and give-backs, so a wait reason can be reused while nothing changed. */
  version: number
}

/** The free capacity of an unreachable instance: below any job's need, even a job asking for nothing. */
const UNREACHABLE = -1

function poolOf (state: State): Pool {
  const instances = Object.values(state.instances).filter(i => i.status !== 'terminated' && i.status !== 'terminating')
  const n = instances.length
  const pool: Pool = {
    instances, index: new Map(instances.map((i, k) => [i.id, k])),
    cpus: new Float64Array(n), memory: new Float64Array(n), gpus: new Float64Array(n),
    rank: new Int32Array(n), shape: new Int32Array(n), shapes: [], version: 0
  }
  const shapes = new Map<string, number>()
  instances.forEach((inst, k) => {
    if (inst.unreachable) { pool.cpus[k] = pool.memory[k] = pool.gpus[k] = UNREACHABLE }
    else { pool.cpus[k] = inst.offer.cpus; pool.memory[k] = inst.offer.memory; pool.gpus[k] = inst.offer.gpus.length }
    const key = JSON.stringify(inst.offer)
    let s = shapes.get(key)
    if (s === undefined) { s = pool.shapes.length; shapes.set(key, s); pool.shapes.push(inst.offer) }
    pool.shape[k] = s
  })
  instances.map((inst, k) => ({ id: inst.id, k })).sort((a, b) => a.id.localeCompare(b.id)).forEach(({ k }, r) => { pool.rank[k] = r })
  // What active jobs hold. A placement on an instance outside the pool holds nothing a job could use.
  for (const { sub } of activeJobs(state)) {
    if (!sub.placement) continue
    const k = pool.index.get(sub.placement.instance)
    if (k === undefined) continue
    pool.cpus[k]! -= sub.placement.cpus; pool.memory[k]! -= sub.placement.memory; pool.gpus[k]! -= sub.placement.gpus
  }
  return pool
}

/** Jobs with equal requirements: the instances that could ever hold one, and its share of each. */
interface Class {
  /** Why each shape fails, null where it matches. */
  mismatch: Array<string | null>
  /** Feasible instances, in pool order, with the share a job takes of each. */
  members: Int32Array
  takeCpus: Float64Array
  takeMemory: Float64Array
  takeGpus: Float64Array
  /**
   * The members that may still have room, in any order (the first `open` of them): one found
   * without room is dropped, as capacity only shrinks during a pass, so scans get shorter as
   * the fleet fills and cost nothing once it is full.
   */
  live: Int32Array
  open: number
  /** neverFits' answer by nodes needed: its message for a fleet-wide mismatch lists every instance. */
  never: Map<number, string>
  /** shortfall's last answer and the pool version it was given at. */
  reason: { version: number, text: string } | null
}

function classOf (pool: Pool, req: Requirements): Class {
  const shares = pool.shapes.map(offer => shareOf(offer, req))
  const mismatch = shares.map(share => offerMismatch(share, req))
  const members: number[] = []
  for (let k = 0; k < pool.instances.length; k++) if (mismatch[pool.shape[k]!] === null) members.push(k)
  const c: Class = {
    mismatch, members: Int32Array.from(members), live: Int32Array.from(members.keys()), open: members.length, never: new Map(), reason: null,
    takeCpus: new Float64Array(members.length), takeMemory: new Float64Array(members.length), takeGpus: new Float64Array(members.length)
  }
  members.forEach((k, m) => {
    const share = shares[pool.shape[k]!]!
    c.takeCpus[m] = share.cpus; c.takeMemory[m] = share.memory; c.takeGpus[m] = share.gpus.length
  })
  return c
}

/**
 * Bin-packing: the member that would have the least room left after the job (GPUs first,
 * then CPUs, then memory), ties to the lowest instance id; -1 when none has room. `exclude`
 * holds instances the job may not share (its replica's other nodes). `prune` drops members
 * without room, and must be false while capacity is held back for a replica that may yet
 * give it back.
 */
function bestFit (pool: Pool, c: Class, exclude: ReadonlySet<number> | null, prune: boolean): number {
  let best = -1
  let bestLeft = Infinity
  const { cpus, memory, gpus, rank } = pool
  const { members, live, takeCpus, takeMemory, takeGpus } = c
  for (let j = 0; j < c.open; j++) {
    const m = live[j]!
    const k = members[m]!
    const fc = cpus[k]!; const fm = memory[k]!; const fg = gpus[k]!
    const tc = takeCpus[m]!; const tm = takeMemory[m]!; const tg = takeGpus[m]!
    if (fc < tc || fm < tm - 1e-9 || fg < tg) {
      if (prune) live[j--] = live[--c.open]!
      continue
    }
    if (exclude?.has(k)) continue
    // The scan order is arbitrary once members are dropped: ties go by id rank, not by position.
    const left = (fg - tg) * 1e6 + (fc - tc) * 1e3 + (fm - tm)
    if (left < bestLeft || (left === bestLeft && rank[k]! < rank[members[best]!]!)) { best = m; bestLeft = left }
  }
  return best
}

function take (pool: Pool, c: Class, m: number, sign: 1 | -1): void {
  const k = c.members[m]!
  pool.version++
  pool.cpus[k]! -= sign * c.takeCpus[m]!; pool.memory[k]! -= sign * c.takeMemory[m]!; pool.gpus[k]! -= sign * c.takeGpus[m]!
}

function placementOf (pool: Pool, c: Class, m: number): Placement {
  const i = pool.instances[c.members[m]!]!
  return { instance: i.id, node: i.node, hostname: i.hostname, address: i.address, cpus: c.takeCpus[m]!, memory: c.takeMemory[m]!, gpus: c.takeGpus[m]! }
}

/** Why a job waits: what the first instance that could ever hold it lacks now. */
function shortfall (pool: Pool, c: Class): string {
  if (c.reason?.version !== pool.version) c.reason = { version: pool.version, text: shortfallNow(pool, c) }
  return c.reason.text
}

function shortfallNow (pool: Pool, c: Class): string {
  const k = c.members[0]
  if (k === undefined) return 'waiting for an instance'
  const f = { cpus: pool.cpus[k]!, memory: pool.memory[k]!, gpus: pool.gpus[k]! }
  const h = { cpus: c.takeCpus[0]!, memory: c.takeMemory[0]!, gpus: c.takeGpus[0]! }
  if (f.cpus <= UNREACHABLE && f.gpus <= UNREACHABLE) return 'waiting for an instance that is unreachable now'
  if (f.cpus < h.cpus) return `waiting for ${h.cpus} CPU(s): ${Math.max(0, f.cpus)} free`
  if (f.memory < h.memory) return `waiting for ${h.memory}GB of memory: ${Math.max(0, f.memory)}GB free`
  return `waiting for ${h.gpus} GPU(s): ${Math.max(0, f.gpus)} free`
}

/**
 * Why a job whose ports are held on some instances waits: when an instance has room for it but
 * holds one of its ports, that port and its holder; null when room is what it lacks.
 */
function portShortfall (pool: Pool, c: Class, book: PortBook, need: readonly number[]): string | null {
  const member = bestFit(pool, c, null, false)
  return member < 0 ? null : book.conflict(c.members[member]!, need)
}

/** dstack's words for a job that no instance could ever hold, however long it waited. */
function neverFits (pool: Pool, c: Class, job: Job): string | null {
  const nodes = job.spec.jobs_per_replica
  if (c.members.length >= nodes) return null
  let message = c.never.get(nodes)
  if (message === undefined) { message = neverMessage(pool, c, nodes); c.never.set(nodes, message) }
  return message
}

function neverMessage (pool: Pool, c: Class, nodes: number): string {
  if (pool.instances.length === 0) return 'No matching fleet found: no instances are registered'
  if (c.members.length === 0) {
    return `No matching fleet found: no instance fits (${pool.instances.map((i, k) => `${i.name}: ${c.mismatch[pool.shape[k]!]}`).join('; ')})`
  }
  return `No matching fleet found: ${nodes} nodes needed, ${c.members.length} instance(s) fit`
}

/**
 * What the queue holds: a single job, or the waiting jobs of one multi-node replica in rank
 * order (master first), placed together or not at all, plus the instances its placed jobs hold.
 */
type Entry =
  | { kind: 'single', run: Run, job: Job }
  | { kind: 'gang', run: Run, jobs: Job[], held: Set<number> }

/**
 * Waiting jobs, higher priority first, then oldest first, then by job_num. A replica's jobs
 * queue as one entry, at the place of its first job.
 */
function queue (state: State, pool: Pool): Entry[] {
  const jobs: Array<{ run: Run, job: Job, priority: number, at: number, num: number }> = []
  for (const run of activeRuns(state)) {
    if (run.status === 'terminating') continue
    for (const id of run.job_ids) {
      const job = state.jobs[id]!
      const sub = latest(job)
      if (sub.status === 'submitted') jobs.push({ run, job, priority: run.priority, at: sub.submitted_at, num: job.spec.job_num })
    }
  }
  jobs.sort((a, b) => b.priority - a.priority || a.at - b.at || a.num - b.num)
  const entries: Entry[] = []
  const gangs = new Set<string>()
  for (const { run, job } of jobs) {
    if (job.spec.jobs_per_replica <= 1) { entries.push({ kind: 'single', run, job }); continue }
    const key = `${run.id}\n${job.spec.replica_num}`
    if (gangs.has(key)) continue
    gangs.add(key)
    const replica = run.job_ids.map(id => state.jobs[id]!).filter(j => j.spec.replica_num === job.spec.replica_num)
    const held = new Set<number>()
    for (const j of replica) {
      const sub = latest(j)
      const k = sub.placement && !isFinal(sub.status) ? pool.index.get(sub.placement.instance) : undefined
      if (k !== undefined) held.add(k)
    }
    const waiting = replica.filter(j => latest(j).status === 'submitted').sort((a, b) => a.spec.job_num - b.spec.job_num)
    entries.push({ kind: 'gang', run, jobs: waiting, held })
  }
  return entries
}

/**
 * Each job's requirements and their key, kept from pass to pass: working them out anew for
 * every waiting job was half of a pass where nothing fits. A job's resources are fixed for its
 * life and run.update replaces a run's configuration rather than editing it, so the pair of
 * objects stands for the requirements; a state rebuilt from a snapshot has new objects and
 * simply misses. Weak, so finished jobs' entries go with them.
 */
const requirementKeys = new WeakMap<ResourcesSpec, { configuration: RunConfiguration, req: Requirements, key: string }>()

function requirementKey (run: Run, job: Job): { req: Requirements, key: string } {
  const configuration = run.spec.configuration
  const known = requirementKeys.get(job.spec.resources)
  if (known?.configuration === configuration) return known
  const req = requirementsOf(run.spec.configuration, job.spec.resources)
  const entry = { configuration, req, key: JSON.stringify(req) }
  requirementKeys.set(job.spec.resources, entry)
  return entry
}

export function schedule (state: State): Decision[] {
  const decisions: Decision[] = []
  const pool = poolOf(state)
  const classes = new Map<string, Class>()
  const classFor = (run: Run, job: Job): Class => {
    const { req, key } = requirementKey(run, job)
    let c = classes.get(key)
    if (!c) { c = classOf(pool, req); classes.set(key, c) }
    return c
  }
  const wait = (job: Job, reason: string): void => {
    const sub = latest(job)
    if (sub.waiting_reason !== reason) decisions.push({ kind: 'wait', job, submission_id: sub.id, reason })
  }
  // Who holds which port where: worked out on the first job that needs a port.
  let book: PortBook | null = null
  const ports = (): PortBook => (book ??= portBook(state, pool.index, k => pool.instances[k]!.name))

  for (const entry of queue(state, pool)) {
    if (entry.kind === 'single') {
      const { run, job } = entry
      const c = classFor(run, job)
      const never = neverFits(pool, c, job)
      if (never !== null) { decisions.push({ kind: 'no-capacity', job, submission_id: latest(job).id, message: never }); continue }
      const need = portsOf(run, job)
      const blocked = need.length > 0 ? ports().blocked(need) : null
      const member = bestFit(pool, c, blocked, true)
      if (member < 0) { wait(job, (blocked && portShortfall(pool, c, ports(), need)) ?? shortfall(pool, c)); continue }
      take(pool, c, member, 1)
      if (need.length > 0) ports().take(c.members[member]!, need, job.spec.job_name)
      decisions.push({ kind: 'assign', job, submission_id: latest(job).id, placement: placementOf(pool, c, member) })
      continue
    }

    // A replica's nodes: every job the whole replica needs, or none. A job no instance could
    // ever hold fails (and the state machine stops or retries its replica); the rest stay put.
    const { run, jobs, held } = entry
    const wanted = jobs.map(job => ({ job, c: classFor(run, job) }))
    let failed = false
    for (const { job, c } of wanted) {
      const never = neverFits(pool, c, job)
      if (never !== null) { decisions.push({ kind: 'no-capacity', job, submission_id: latest(job).id, message: never }); failed = true }
    }
    if (failed) continue
    // Greedy in rank order, each node on the best instance that no other node of the replica
    // holds, capacity taken as it goes and given back if a later node finds no room.
    const exclude = new Set(held)
    const chosen: Array<{ c: Class, member: number, need: number[] }> = []
    for (const { job, c } of wanted) {
      const need = portsOf(run, job)
      const blocked = need.length > 0 ? ports().blocked(need) : null
      const member = bestFit(pool, c, blocked ? new Set([...exclude, ...blocked]) : exclude, chosen.length === 0)
      if (member < 0) break
      take(pool, c, member, 1)
      if (need.length > 0) ports().take(c.members[member]!, need, job.spec.job_name)
      exclude.add(c.members[member]!)
      chosen.push({ c, member, need })
    }
    if (chosen.length < wanted.length) {
      for (const { c, member, need } of chosen) {
        take(pool, c, member, -1)
        if (need.length > 0) ports().give(c.members[member]!, need)
      }
      const n = wanted.length
      for (const { job } of wanted) wait(job, `waiting for ${n} instance${n === 1 ? '' : 's'} that fit: ${chosen.length} free`)
      continue
    }
    chosen.forEach(({ c, member }, r) => {
      const job = wanted[r]!.job
      decisions.push({ kind: 'assign', job, submission_id: latest(job).id, placement: placementOf(pool, c, member) })
    })
  }
  return decisions
}
