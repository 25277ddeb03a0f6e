// Bounded history: finished runs leave the state by a replicated command, never an unfinished
// one; the indexes behind every command and pass answer as a scan of the whole state would,
// whether kept up to date command by command or rebuilt from a snapshot; run names come free.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { plan } from '../../../daemon/scheduler/controller.ts'
import { activeJobs, activeJobsOn, activeRuns, finishedCount, finishedRuns, lowestFreeName } from '../../../daemon/state/active.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { isFinal, latest } from '../../../daemon/state/lifecycle.ts'
import { apply, isRunFinal, type Command } from '../../../daemon/state/machine.ts'
import { expiredRuns, retentionProblem } from '../../../daemon/state/retention.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'

const DAY = 24 * 3600 * 1000
const configuration = parseConfiguration('type: task\ncommands: [echo hi]\nresources: {cpu: 1.., memory: 1GB..}') as RunConfiguration
const spec = jobSpecsFor(configuration, {})[0]!
const retryConfiguration = parseConfiguration('type: task\ncommands: [exit 1]\nretry: {on_events: [error], duration: 1h}') as RunConfiguration
const offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86' as const, cpus: 4, memory: 16, disk: 100, gpus: [] }

function register (state: State, i: number): void {
  apply(state, { type: 'instance.register', at: 1, fleet: { id: 'f', name: 'local' }, instance: { id: `i${i}`, name: `local-${i}`, node: `n${i}`, hostname: 'h', address: '127.0.0.1', offer, warnings: [] } })
}

function submit (state: State, id: string, at: number, name: string | null = null, retry = false): void {
  const c = retry ? retryConfiguration : configuration
  const res = apply(state, { type: 'run.submit', at, run: { id, name, name_base: 'task', project: 'main', user: 'u', priority: 0, spec: { run_name: '', configuration: c, configuration_path: null, workflow: null } }, jobs: [{ id: `${id}-j`, submission_id: `${id}-s0`, spec: jobSpecsFor(c, {})[0]! }] })
  assert.ok(res.ok, JSON.stringify(res))
}

const subOf = (state: State, id: string) => latest(state.jobs[`${id}-j`]!)

function place (state: State, id: string, at: number, instance = 0): void {
  apply(state, { type: 'job.assign', at, job_id: `${id}-j`, submission_id: subOf(state, id).id, placement: { instance: `i${instance}`, node: `n${instance}`, hostname: 'h', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
}

function finish (state: State, id: string, at: number, status: 'done' | 'failed' = 'done'): void {
  place(state, id, at)
  apply(state, { type: 'job.status', at, job_id: `${id}-j`, submission_id: subOf(state, id).id, status, reason: status === 'done' ? 'done_by_runner' : 'container_exited_with_error' })
}

test('runs.compact drops finished runs and their jobs, and never an unfinished one', () => {
  const s = emptyState()
  register(s, 0)
  submit(s, 'old', 1000); finish(s, 'old', 2000)
  submit(s, 'live', 1000); place(s, 'live', 2000)
  submit(s, 'waiting', 1000)
  const res = apply(s, { type: 'runs.compact', at: 3000, run_ids: ['old', 'live', 'waiting', 'gone'] })
  assert.ok(res.ok)
  assert.equal(Object.keys(s.runs).sort(), ['live', 'waiting'])
  assert.equal(Object.keys(s.jobs).sort(), ['live-j', 'waiting-j'])
  assert.equal(res.ok && res.compacted!.map(c => [c.run.id, c.jobs.map(j => j.id)]), [['old', ['old-j']]])
  assert.is(s.events.at(-1)!.kind, 'runs.compacted')
})

test('a run waiting out a retry back-off is unfinished: it stays', () => {
  const s = emptyState()
  register(s, 0)
  submit(s, 'r', 1000, null, true)
  finish(s, 'r', 2000, 'failed')
  assert.is(s.runs.r!.status, 'pending')
  apply(s, { type: 'runs.compact', at: 3000, run_ids: ['r'] })
  assert.ok(s.runs.r)
  assert.equal(expiredRuns(s, 100 * DAY, { keepRuns: 0, keepForMs: 0 }), [])
})

test('expiredRuns: beyond keepRuns the oldest go; past keepFor every one goes', () => {
  const s = emptyState()
  register(s, 0)
  for (let i = 0; i < 5; i++) { submit(s, `r${i}`, i * DAY); finish(s, `r${i}`, i * DAY + 1) }
  submit(s, 'live', 0)
  assert.equal(expiredRuns(s, 5 * DAY, { keepRuns: 3, keepForMs: 100 * DAY }), ['r0', 'r1'])
  assert.equal(expiredRuns(s, 5 * DAY, { keepRuns: 100, keepForMs: 2.5 * DAY }), ['r0', 'r1', 'r2'])
  assert.equal(expiredRuns(s, 5 * DAY, { keepRuns: 0, keepForMs: 100 * DAY }, 2), ['r0', 'r1'], 'at most a batch at a time')
  assert.equal(expiredRuns(s, 5 * DAY, { keepRuns: 100, keepForMs: 100 * DAY }), [])
})

test('the leader plans runs.compact with its term; applied, the state keeps the policy', () => {
  const s = emptyState()
  register(s, 0)
  for (let i = 0; i < 4; i++) { submit(s, `r${i}`, i); finish(s, `r${i}`, i + 1) }
  const compact = plan(s, 10, 7, { keepRuns: 1, keepForMs: DAY }).find(c => c.type === 'runs.compact')
  assert.equal(compact, { type: 'runs.compact', at: 10, term: 7, run_ids: ['r0', 'r1', 'r2'] })
  apply(s, compact!, { index: 100, term: 7 })
  assert.equal(Object.keys(s.runs), ['r3'])
  assert.is(finishedCount(s), 1)
})

test('a compacted run\'s name is free again: the lowest free number is taken', () => {
  const s = emptyState()
  register(s, 0)
  for (const id of ['a', 'b', 'c']) submit(s, id, 1)
  assert.equal(['a', 'b', 'c'].map(id => s.runs[id]!.name), ['task-1', 'task-2', 'task-3'])
  finish(s, 'a', 2)
  apply(s, { type: 'runs.compact', at: 3, run_ids: ['a'] })
  submit(s, 'd', 4)
  assert.is(s.runs.d!.name, 'task-1')
  submit(s, 'e', 5)
  assert.is(s.runs.e!.name, 'task-4')
})

test('retention options are checked', () => {
  assert.is(retentionProblem({ keepRuns: 10, keepForMs: 0 }), null)
  assert.match(retentionProblem({ keepRuns: -1, keepForMs: 0 })!, 'keep-runs')
  assert.match(retentionProblem({ keepRuns: 1, keepForMs: NaN })!, 'keep-for')
})

/** What the indexes should say, by scanning everything. */
function scanned (s: State) {
  return {
    active: Object.values(s.runs).filter(r => !isRunFinal(r.status)).map(r => r.id).sort(),
    jobs: Object.values(s.jobs).filter(j => latest(j).placement !== null && !isFinal(latest(j).status)).map(j => j.id).sort(),
    on0: Object.values(s.jobs).filter(j => latest(j).placement?.instance === 'i0' && !isFinal(latest(j).status)).map(j => j.id).sort(),
    finished: Object.values(s.runs).filter(r => isRunFinal(r.status)).map(r => r.id).sort()
  }
}

function indexed (s: State) {
  return {
    active: activeRuns(s).map(r => r.id).sort(),
    jobs: activeJobs(s).map(a => a.job.id).sort(),
    on0: activeJobsOn(s, 'i0').map(a => a.job.id),
    finished: [...finishedRuns(s)].map(r => r.id).sort()
  }
}

test('property: the indexes answer as a scan would, kept up to date or rebuilt; replicas restored mid-way end equal', () => {
  const step = fc.oneof(
    fc.record({ k: fc.constant('submit' as const), name: fc.option(fc.constantFrom('x-1', 'x-2', 'task-2'), { nil: null }), retry: fc.boolean() }),
    fc.record({ k: fc.constant('assign' as const), run: fc.nat(30), instance: fc.nat(2) }),
    fc.record({ k: fc.constant('status' as const), run: fc.nat(30), status: fc.constantFrom('running', 'done', 'failed' as const) }),
    fc.record({ k: fc.constant('stop' as const), run: fc.nat(30), abort: fc.boolean() }),
    fc.record({ k: fc.constant('delete' as const), instance: fc.nat(2) }),
    fc.record({ k: fc.constant('compact' as const), keep: fc.nat(5) })
  )
  fc.assert(fc.property(fc.array(step, { maxLength: 80 }), fc.nat(80), (steps, restoreAt) => {
    const live = emptyState()
    let replica = emptyState()
    const log: Command[] = []
    for (let i = 0; i < 3; i++) register(live, i)
    for (let i = 0; i < 3; i++) register(replica, i)
    let n = 0
    let at = 10
    const ids = () => Object.keys(live.runs)
    for (const st of steps) {
      at += 1000
      const pick = (k: number) => ids()[k % Math.max(1, ids().length)]
      let cmd: Command | null = null
      if (st.k === 'submit') {
        const id = `r${n++}`
        const c = st.retry ? retryConfiguration : configuration
        cmd = { type: 'run.submit', at, run: { id, name: st.name, name_base: 'task', project: 'main', user: 'u', priority: 0, spec: { run_name: '', configuration: c, configuration_path: null, workflow: null } }, jobs: [{ id: `${id}-j`, submission_id: `${id}-s0`, spec: jobSpecsFor(c, {})[0]! }] }
      } else if (st.k === 'assign' || st.k === 'status') {
        const id = pick(st.run)
        if (id === undefined) continue
        const sub = latest(live.jobs[`${id}-j`]!)
        cmd = st.k === 'assign'
          ? { type: 'job.assign', at, job_id: `${id}-j`, submission_id: sub.id, placement: { instance: `i${st.instance}`, node: `n${st.instance}`, hostname: 'h', address: 'a', cpus: 1, memory: 1, gpus: 0 } }
          : { type: 'job.status', at, job_id: `${id}-j`, submission_id: sub.id, status: st.status, reason: st.status === 'failed' ? 'container_exited_with_error' : st.status === 'done' ? 'done_by_runner' : undefined }
      } else if (st.k === 'stop') {
        const id = pick(st.run)
        if (id === undefined) continue
        cmd = { type: 'run.stop', at, run_id: id, abort: st.abort }
      } else if (st.k === 'delete') {
        cmd = { type: 'instance.delete', at, instance_id: `i${st.instance}`, by: 'test' }
      } else {
        cmd = { type: 'runs.compact', at, run_ids: expiredRuns(live, at, { keepRuns: st.keep, keepForMs: DAY }) }
      }
      // Retries come due, as the leader's loop would resubmit them.
      for (const c of plan(live, at + 3600_000).filter(c => c.type === 'run.resubmit')) log.push(c), apply(live, c)
      log.push(cmd)
      apply(live, cmd)
    }
    // A replica that applies the first commands, is restored from a snapshot of itself (indexes
    // rebuilt), then applies the rest, ends with the same state.
    log.forEach((cmd, i) => {
      if (i === restoreAt) replica = structuredClone(replica)
      apply(replica, cmd)
    })
    assert.equal(replica, live)
    const rebuilt = structuredClone(live)
    assert.equal(indexed(live), scanned(live))
    assert.equal(indexed(rebuilt), scanned(rebuilt))
    assert.is(lowestFreeName(live, 'main', 'task'), lowestFreeName(rebuilt, 'main', 'task'))
    assert.is(finishedCount(live), scanned(live).finished.length)
  }), { numRuns: 300, seed: 7 })
})

test.run()
