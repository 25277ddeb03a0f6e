// Benchmark: does history slow the control plane down? For 1,000, 10,000 and 100,000 finished
// runs in the state (retention off, so they all stay), times what every host does per command
// (`apply` of a run's life: submit, assign, running, done) and what the leader does per pass
// (`plan`: placement, resubmits, retention) with 200 jobs waiting on a full fleet of 50 hosts.
// Each timed run is compacted again right after (timed too), so the history stays at its size.
// Both should stay flat as the history grows. Then the default retention compacts the history:
// the snapshot's size with the history and after compaction.
//   node --import tsx scripts/bench/history.ts [--sizes 1000,10000,100000]
import { cpus, totalmem } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseConfiguration, type RunConfiguration } from '../../daemon/config/index.ts'
import { plan } from '../../daemon/scheduler/controller.ts'
import { jobSpecsFor } from '../../daemon/state/jobs.ts'
import { apply, trimEvents, type Command } from '../../daemon/state/machine.ts'
import { DEFAULT_RETENTION, expiredRuns } from '../../daemon/state/retention.ts'
import { emptyState, type JobSpec, type Placement, type RunSpec, type State } from '../../daemon/state/types.ts'

const sizesArg = process.argv.indexOf('--sizes')
const SIZES = sizesArg >= 0 ? process.argv[sizesArg + 1]!.split(',').map(Number) : [1000, 10_000, 100_000]
const HOSTS = 50
const WAITING = 200
const KEEP_ALL = { keepRuns: Number.MAX_SAFE_INTEGER, keepForMs: Number.MAX_SAFE_INTEGER }

const configuration = parseConfiguration('type: task\ncommands: [python train.py]\nresources: {cpu: 2.., memory: 4GB..}') as RunConfiguration
const jobSpec: JobSpec = jobSpecsFor(configuration, {})[0]!
const runSpec: RunSpec = { run_name: '', configuration, configuration_path: null, workflow: null }

let seq = 0
let clock = 1_000_000

function must (state: State, cmd: Command): void {
  const r = apply(state, cmd, { index: ++state.index, term: 1 })
  if (!r.ok) throw new Error(`${cmd.type}: ${r.message}`)
  trimEvents(state) // as the store does after each command
}

function submit (state: State): string {
  const id = `r${++seq}`
  must(state, { type: 'run.submit', at: ++clock, run: { id, name: null, name_base: 'bench', project: 'main', user: 'admin', priority: 0, spec: runSpec }, jobs: [{ id: `${id}-j0`, submission_id: `${id}-s0`, spec: jobSpec }] })
  return id
}

function placement (h: number): Placement {
  return { instance: `i${h}`, node: `n${h}`, hostname: `host-${h}`, address: '127.0.0.1', cpus: 2, memory: 4, gpus: 0 }
}

/** A run's whole life: the commands every host applies for it. */
function life (state: State, h: number): string {
  const id = submit(state)
  const job = `${id}-j0`
  const sub = `${id}-s0`
  must(state, { type: 'job.assign', at: ++clock, term: 1, job_id: job, submission_id: sub, placement: placement(h) })
  must(state, { type: 'job.status', at: ++clock, job_id: job, submission_id: sub, status: 'running' })
  must(state, { type: 'job.status', at: ++clock, job_id: job, submission_id: sub, status: 'done', reason: 'done_by_runner', exit_status: 0 })
  return id
}

function fleet (finished: number): State {
  const state = emptyState()
  for (let h = 0; h < HOSTS; h++) {
    must(state, {
      type: 'instance.register', at: ++clock, fleet: { id: 'f', name: 'bench' },
      instance: { id: `i${h}`, name: `bench-${h}`, node: `n${h}`, hostname: `host-${h}`, address: '127.0.0.1', warnings: [], offer: { backend: 'local', region: 'local', instance_type: 'bench', price: 0, spot: false, cpu_arch: 'x86', cpus: 8, memory: 32, disk: 100, gpus: [] } }
    })
  }
  for (let i = 0; i < finished; i++) life(state, i % HOSTS)
  // A full fleet (4 running jobs of 2 CPUs per 8-CPU host) and a queue that waits on it.
  for (let h = 0; h < HOSTS; h++) {
    for (let k = 0; k < 4; k++) {
      const id = submit(state)
      must(state, { type: 'job.assign', at: ++clock, term: 1, job_id: `${id}-j0`, submission_id: `${id}-s0`, placement: placement(h) })
      must(state, { type: 'job.status', at: ++clock, job_id: `${id}-j0`, submission_id: `${id}-s0`, status: 'running' })
    }
  }
  for (let i = 0; i < WAITING; i++) submit(state)
  return state
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!

/** µs per command over a run's life, and per runs.compact of it (which keeps the history at its size). */
function timeApply (state: State, rounds: number): { life: number[], compact: number[] } {
  const out = { life: [] as number[], compact: [] as number[] }
  for (let i = 0; i < rounds; i++) {
    let t = performance.now()
    const id = life(state, HOSTS - 1)
    out.life.push((performance.now() - t) * 1000 / 4)
    t = performance.now()
    must(state, { type: 'runs.compact', at: ++clock, term: 1, run_ids: [id] })
    out.compact.push((performance.now() - t) * 1000)
  }
  return out
}

function timePlan (state: State, rounds: number): number[] {
  const out: number[] = []
  for (let i = 0; i < rounds; i++) {
    const t = performance.now()
    const cmds = plan(state, clock, 1, KEEP_ALL)
    out.push(performance.now() - t)
    if (cmds.some(c => c.type === 'job.assign')) throw new Error('the fleet is full: nothing should be placed')
    // The waiting reasons recorded, as the leader's pass does: later passes have nothing to say.
    for (const c of cmds) must(state, c)
  }
  return out
}

const mb = (s: State): string => (Buffer.byteLength(JSON.stringify(s)) / 1024 / 1024).toFixed(1)

console.log(`history benchmark: ${HOSTS} hosts (full), ${WAITING} jobs waiting; Node ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GB`)
console.log('finished runs | apply µs/command p50 (p95) | runs.compact µs p50 | plan ms/pass p50 (p95) | state JSON MB | after default retention: runs, MB')
{
  // The JIT's warm-up, not counted: else the first size pays for it.
  const warm = fleet(500)
  timeApply(warm, 3000)
  timePlan(warm, 20)
}
for (const n of SIZES) {
  const built = performance.now()
  const state = fleet(n)
  const buildS = (performance.now() - built) / 1000
  timeApply(state, 1000) // warm-up
  const { life: applyUs, compact: compactUs } = timeApply(state, 2000)
  timePlan(state, 5)
  const planMs = timePlan(state, 30)
  const before = mb(state)
  // The leader's retention at a time past the default week: batches until nothing is left to drop.
  const later = clock + DEFAULT_RETENTION.keepForMs / 2
  for (let ids = expiredRuns(state, later, DEFAULT_RETENTION); ids.length > 0; ids = expiredRuns(state, later, DEFAULT_RETENTION)) {
    must(state, { type: 'runs.compact', at: later, term: 1, run_ids: ids })
  }
  console.log(`${String(n).padStart(13)} | ${median(applyUs).toFixed(1).padStart(8)} (${p95(applyUs).toFixed(1)}) | ${median(compactUs).toFixed(1).padStart(8)} | ${median(planMs).toFixed(2).padStart(8)} (${p95(planMs).toFixed(2)}) | ${before.padStart(8)} | ${Object.keys(state.runs).length} runs, ${mb(state)} MB   (built in ${buildS.toFixed(1)} s)`)
}
