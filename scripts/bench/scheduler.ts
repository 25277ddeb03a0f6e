// Benchmark: one scheduler pass (`schedule(state)`) over a synthetic fleet of 1,000 GPU hosts
// and 10,000 waiting jobs — a few dozen requirement shapes, some multi-node — built from a
// fixed seed, so every run times the same work. Prints the median of several passes as
// placements/s, then the steady state the leader's once-a-second pass sees when nothing fits.
//   node --import tsx scripts/bench/scheduler.ts [passes] [--hosts N] [--jobs N]
import { cpus, totalmem } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseConfiguration, type RunConfiguration } from '../../daemon/config/index.ts'
import { schedule, type Decision } from '../../daemon/scheduler/index.ts'
import { jobSpecsFor } from '../../daemon/state/jobs.ts'
import { apply } from '../../daemon/state/machine.ts'
import { emptyState, type State } from '../../daemon/state/types.ts'

function flag (name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const passes = Number(process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--')) ?? 7)
const HOSTS = flag('--hosts', 1000)
const JOBS = flag('--jobs', 10_000)

/** mulberry32: small, fast and the same everywhere, so the inventory is too. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const GPUS = [{ name: 'A100', memory: 80 }, { name: 'H100', memory: 80 }, { name: 'L4', memory: 24 }]

/**
 * Requirement shapes as users write them: GPU name × count × CPU floor, CPU-only jobs, and a
 * few that no host can ever hold (16 GPUs, an H200) so the no-capacity path runs too.
 */
function shapes (): string[] {
  const out: string[] = []
  for (const gpu of ['A100', 'H100', 'L4', '24GB..']) {
    for (const count of [1, 2, 4, 8]) out.push(`{gpu: ${gpu}:${count}, cpu: ${count * 8}.., memory: ${count * 32}GB..}`)
  }
  for (const cpu of [2, 8, 32, 64]) out.push(`{cpu: ${cpu}.., memory: ${cpu * 4}GB.., gpu: 0}`)
  out.push('{gpu: A100:16}', '{gpu: H200:1}', '{gpu: H100:8, cpu: 512..}')
  return out
}

function syntheticState (hosts: number, jobs: number, seed = 42): State {
  const random = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const state = emptyState()
  for (let h = 0; h < hosts; h++) {
    const gpu = pick(GPUS)
    const id = `i${String(h).padStart(5, '0')}`
    apply(state, {
      type: 'instance.register', at: 1,
      fleet: { id: 'f', name: 'bench' },
      instance: {
        id, name: `bench-${h}`, node: `n${h}`, hostname: `host-${h}`, address: `10.0.${h >> 8}.${h & 255}`, warnings: [],
        offer: {
          backend: 'ssh', region: 'local', instance_type: 'ssh', price: 0, spot: false, cpu_arch: 'x86',
          cpus: pick([64, 96, 128, 192, 256]), memory: pick([512, 1024, 2048]), disk: 2000,
          gpus: Array.from({ length: 8 }, () => ({ vendor: 'nvidia' as const, ...gpu }))
        }
      }
    })
  }
  // Single-node tasks mostly; one run in ten is a 2- or 4-node task of 8-GPU jobs.
  const single = shapes().map(r => parseConfiguration(`type: task\ncommands: [train]\nresources: ${r}\n`) as RunConfiguration)
  const multi = [2, 4].map(n => parseConfiguration(`type: task\nnodes: ${n}\ncommands: [train]\nresources: {gpu: ${pick(['A100', 'H100'])}:8}\n`) as RunConfiguration)
  let submitted = 0
  for (let r = 0; submitted < jobs; r++) {
    const configuration = random() < 0.1 ? pick(multi) : pick(single)
    const specs = jobSpecsFor(configuration, {}).slice(0, jobs - submitted)
    const id = `r${r}`
    // Each run goes through the state machine alone and is copied in: run.submit looks for a
    // same-named active run among all runs, which would make building 5,000 runs quadratic.
    const alone = emptyState()
    const res = apply(alone, {
      type: 'run.submit', at: 1000 + r,
      run: { id, name: `bench-${r}`, name_base: 'bench', project: 'main', user: 'bench', priority: pick([0, 0, 0, 10, 50]), spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
      jobs: specs.map((spec, i) => ({ id: `${id}-j${i}`, submission_id: `${id}-j${i}-s0`, spec }))
    })
    if (!res.ok) throw new Error(res.message)
    Object.assign(state.runs, alone.runs)
    Object.assign(state.jobs, alone.jobs)
    submitted += specs.length
  }
  // A replicated state arrives as JSON: no objects shared between runs, as on a real node.
  return JSON.parse(JSON.stringify(state)) as State
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Times `passes` calls after one more; returns the median in ms and the last decisions. */
function time (state: State): { ms: number, decisions: Decision[] } {
  let decisions = schedule(state)
  const times: number[] = []
  for (let i = 0; i < passes; i++) {
    const t0 = performance.now()
    decisions = schedule(state)
    times.push(performance.now() - t0)
  }
  return { ms: median(times), decisions }
}

/** Commits a pass's decisions, as the controller would. */
function commit (state: State, decisions: Decision[]): void {
  for (const d of decisions) {
    if (d.kind === 'assign') apply(state, { type: 'job.assign', at: 2000, job_id: d.job.id, submission_id: d.submission_id, placement: d.placement })
    else if (d.kind === 'wait') apply(state, { type: 'job.wait', at: 2000, job_id: d.job.id, submission_id: d.submission_id, reason: d.reason })
    else apply(state, { type: 'job.status', at: 2000, job_id: d.job.id, submission_id: d.submission_id, status: 'failed', reason: 'failed_to_start_due_to_no_capacity', message: d.message })
  }
}

const count = (ds: Decision[], kind: Decision['kind']) => ds.filter(d => d.kind === kind).length

const t0 = performance.now()
const state = syntheticState(HOSTS, JOBS)
const built = performance.now() - t0
const gpus = Object.values(state.instances).reduce((n, i) => n + i.offer.gpus.length, 0)

// Cold: each pass on a fresh copy of the state, as after a restart or a snapshot load, so no
// job's requirements are known yet. Warm: passes over the same objects, as the leader's are.
const json = JSON.stringify(state)
const coldTimes: number[] = []
for (let i = 0; i < passes; i++) {
  const copy = JSON.parse(json) as State
  const t = performance.now()
  schedule(copy)
  coldTimes.push(performance.now() - t)
}
const cold = median(coldTimes)
const first = time(state)
const assigned = count(first.decisions, 'assign')
const rate = (ms: number) => Math.round(assigned / (ms / 1000)).toLocaleString('en-US')
console.log(`scheduler: ${HOSTS} hosts (${gpus} GPUs), ${JOBS} waiting jobs (state built in ${built.toFixed(0)} ms)`)
console.log(`  first pass: ${assigned} assigned, ${count(first.decisions, 'wait')} wait, ${count(first.decisions, 'no-capacity')} no-capacity`)
console.log(`    cold x${passes}: median ${cold.toFixed(1)} ms → ${rate(cold)} placements/s`)
console.log(`    warm x${passes}: median ${first.ms.toFixed(1)} ms → ${rate(first.ms)} placements/s`)

// Commit the first pass, then the second (whose wait reasons see the final free capacity):
// the third pass is what the leader runs every second while the fleet stays full.
commit(state, first.decisions)
commit(state, schedule(state))
const used = Object.values(state.jobs).reduce((n, j) => n + (j.submissions.at(-1)!.status === 'provisioning' ? j.submissions.at(-1)!.placement!.gpus : 0), 0)
const waiting = Object.values(state.jobs).filter(j => j.submissions.at(-1)!.status === 'submitted').length
const steady = time(state)
console.log(`  steady pass, nothing fits (${used}/${gpus} GPUs in use, ${waiting} jobs waiting) x${passes}: median ${steady.ms.toFixed(1)} ms, ${steady.decisions.length} decisions`)
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}`)
