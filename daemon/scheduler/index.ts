// The scheduler: for every job waiting for a place, feasibility (SPEC §2.6 against each
// instance's offer, minus what its active jobs hold) → ranking → select. Pure: state in,
// decisions out; the controller turns decisions into commands.
import { inferGpuVendor, offerMismatch, spotRequirement, type Offer, type Requirements } from '../config/index.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { Instance, Job, Placement, Run, State } from '../state/types.ts'

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

function amounts (o: Offer): Free {
  return { cpus: o.cpus, memory: o.memory, gpus: o.gpus.length }
}

export function requirementsOf (run: Run, job: Job): Requirements {
  const c = run.spec.configuration
  const resources = { ...job.spec.resources, gpu: inferGpuVendor(job.spec.resources.gpu, c) }
  return { resources, spot: spotRequirement(c.spot_policy), max_price: c.max_price, reservation: c.reservation }
}

function freeCapacity (state: State): Map<string, Free> {
  const free = new Map<string, Free>()
  for (const i of Object.values(state.instances)) {
    if (i.status === 'terminated' || i.status === 'terminating' || i.unreachable) continue
    free.set(i.id, { cpus: i.offer.cpus, memory: i.offer.memory, gpus: i.offer.gpus.length })
  }
  for (const job of Object.values(state.jobs)) {
    const sub = latest(job)
    if (!sub.placement || isFinal(sub.status)) continue
    const f = free.get(sub.placement.instance)
    if (!f) continue
    const h = sub.placement
    f.cpus -= h.cpus; f.memory -= h.memory; f.gpus -= h.gpus
  }
  return free
}

function fits (f: Free, h: Free): boolean {
  return f.cpus >= h.cpus && f.memory >= h.memory - 1e-9 && f.gpus >= h.gpus
}

function shortfall (f: Free, h: Free): string {
  if (f.cpus < h.cpus) return `waiting for ${h.cpus} CPU(s): ${Math.max(0, f.cpus)} free`
  if (f.memory < h.memory) return `waiting for ${h.memory}GB of memory: ${Math.max(0, f.memory)}GB free`
  return `waiting for ${h.gpus} GPU(s): ${Math.max(0, f.gpus)} free`
}

/** Waiting jobs, higher priority first, then oldest first. */
function waiting (state: State): Array<{ run: Run, job: Job }> {
  const out: Array<{ run: Run, job: Job }> = []
  for (const run of Object.values(state.runs)) {
    if (run.status === 'terminating' || run.status === 'done' || run.status === 'failed' || run.status === 'terminated') continue
    for (const id of run.job_ids) {
      const job = state.jobs[id]!
      if (latest(job).status === 'submitted') out.push({ run, job })
    }
  }
  return out.sort((a, b) => b.run.priority - a.run.priority || latest(a.job).submitted_at - latest(b.job).submitted_at || a.job.spec.job_num - b.job.spec.job_num)
}

type Candidate = { instance: Instance, free: Free, take: Free }

/** Bin-packing rank: the instance that would have the least room left after the job. */
function rank (candidates: Candidate[]): Candidate[] {
  const left = (c: Candidate) => (c.free.gpus - c.take.gpus) * 1e6 + (c.free.cpus - c.take.cpus) * 1e3 + (c.free.memory - c.take.memory)
  return [...candidates].sort((a, b) => left(a) - left(b) || a.instance.id.localeCompare(b.instance.id))
}

export function schedule (state: State): Decision[] {
  const decisions: Decision[] = []
  const free = freeCapacity(state)
  const instances = Object.values(state.instances).filter(i => free.has(i.id))
  for (const { run, job } of waiting(state)) {
    const sub = latest(job)
    const req = requirementsOf(run, job)
    const share = new Map(instances.map(i => [i.id, shareOf(i.offer, req)]))
    const feasible = instances.filter(i => offerMismatch(share.get(i.id)!, req) === null)
    if (feasible.length < job.spec.jobs_per_replica) {
      const why = instances.length === 0
        ? 'No matching fleet found: no instances are registered'
        : feasible.length === 0
          ? `No matching fleet found: no instance fits (${instances.map(i => `${i.name}: ${offerMismatch(share.get(i.id)!, req)}`).join('; ')})`
          : `No matching fleet found: ${job.spec.jobs_per_replica} nodes needed, ${feasible.length} instance(s) fit`
      decisions.push({ kind: 'no-capacity', job, submission_id: sub.id, message: why })
      continue
    }
    // Multi-node jobs need distinct instances: skip the ones the replica's other jobs hold.
    const taken = new Set(run.job_ids.map(id => state.jobs[id]!).filter(j => j.spec.replica_num === job.spec.replica_num && j.id !== job.id)
      .map(j => latest(j).placement?.instance).filter(Boolean))
    const open = rank(feasible.filter(i => !taken.has(i.id)).map(i => ({ instance: i, free: free.get(i.id)!, take: amounts(share.get(i.id)!) })).filter(c => fits(c.free, c.take)))
    const best = open[0]
    if (!best) {
      const reason = feasible.map(i => shortfall(free.get(i.id)!, amounts(share.get(i.id)!)))[0] ?? 'waiting for an instance'
      if (sub.waiting_reason !== reason) decisions.push({ kind: 'wait', job, submission_id: sub.id, reason })
      continue
    }
    const { free: f, take } = best
    f.cpus -= take.cpus; f.memory -= take.memory; f.gpus -= take.gpus
    decisions.push({
      kind: 'assign', job, submission_id: sub.id,
      placement: { instance: best.instance.id, node: best.instance.node, hostname: best.instance.hostname, address: best.instance.address, ...take }
    })
  }
  return decisions
}
