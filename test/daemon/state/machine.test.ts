// The run lifecycle as the state machine applies it (SPEC §3): statuses, termination reasons,
// retry with back-off, stop versus abort, run names, and determinism.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { jobSpecsFor, joinCommands, shellSplit } from '../../../daemon/state/jobs.ts'
import { backoffSeconds, retryEventFor } from '../../../daemon/state/lifecycle.ts'
import { apply, type Command } from '../../../daemon/state/machine.ts'
import { emptyState, type Placement, type State } from '../../../daemon/state/types.ts'

const PLACEMENT: Placement = { instance: 'i1', node: 'n1', hostname: 'host', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 }

function submit (state: State, yaml: string, at = 1000, name: string | null = null, id = 'r1') {
  const configuration = parseConfiguration(yaml) as RunConfiguration
  const specs = jobSpecsFor(configuration, {})
  const res = apply(state, {
    type: 'run.submit', at,
    run: { id, name, name_base: 'wet-mangust', project: 'main', user: 'admin', priority: 0, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: specs.map((spec, i) => ({ id: `${id}-j${i}`, submission_id: `${id}-j${i}-s0`, spec }))
  })
  assert.ok(res.ok, JSON.stringify(res))
  return res.ok ? res.run! : null!
}

function job (state: State, id = 'r1-j0') { return state.jobs[id]! }
function sub (state: State, id = 'r1-j0') { const j = job(state, id); return j.submissions[j.submissions.length - 1]! }
function status (state: State, at: number, fields: Partial<Extract<Command, { type: 'job.status' }>>, id = 'r1-j0') {
  return apply(state, { type: 'job.status', at, job_id: id, submission_id: sub(state, id).id, status: 'running', ...fields } as Command)
}
function assign (state: State, at: number, id = 'r1-j0') {
  return apply(state, { type: 'job.assign', at, job_id: id, submission_id: sub(state, id).id, placement: PLACEMENT })
}

test('a task goes submitted → provisioning → running → done', () => {
  const s = emptyState()
  const run = submit(s, 'type: task\ncommands: [echo hi]')
  assert.is(run.name, 'wet-mangust-1')
  assert.is(run.status, 'submitted')
  assign(s, 1100)
  assert.is(s.runs.r1!.status, 'provisioning')
  status(s, 1200, { status: 'running' })
  assert.is(s.runs.r1!.status, 'running')
  status(s, 1300, { status: 'done', reason: 'done_by_runner', exit_status: 0 })
  assert.is(s.runs.r1!.status, 'done')
  assert.is(s.runs.r1!.termination_reason, 'all_jobs_done')
  assert.is(sub(s).finished_at, 1300)
})

test('a failing command fails the run with job_failed', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [exit 3]')
  assign(s, 1100)
  status(s, 1200, { status: 'failed', reason: 'container_exited_with_error', exit_status: 3 })
  assert.is(s.runs.r1!.status, 'failed')
  assert.is(s.runs.r1!.termination_reason, 'job_failed')
  assert.is(sub(s).exit_status, 3)
})

test('retry on error: the run waits out the back-off, then gets a new submission', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [exit 1]\nretry: {on_events: [error], duration: 1h}')
  assign(s, 1100)
  status(s, 1200, { status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  assert.is(s.runs.r1!.status, 'pending')
  assert.is(s.runs.r1!.resubmit_at, 1200 + 15_000)
  apply(s, { type: 'run.resubmit', at: 16_200, run_id: 'r1', submissions: [{ job_id: 'r1-j0', submission_id: 'r1-j0-s1' }] })
  assert.is(job(s).submissions.length, 2)
  assert.is(sub(s).submission_num, 1)
  assert.is(s.runs.r1!.status, 'submitted')
  assign(s, 16_300)
  status(s, 16_400, { status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  assert.is(s.runs.r1!.resubmit_at, 16_400 + 30_000, 'the second back-off is 30s')
})

test('retry: a failure that is not in on_events fails the run', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [x]\nretry: {on_events: [no-capacity]}')
  assign(s, 1100)
  status(s, 1200, { status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  assert.is(s.runs.r1!.status, 'failed')
})

test('retry: past the duration the run fails with retry_limit_exceeded', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [x]\nretry: {on_events: [error], duration: 60}')
  assign(s, 1100)
  status(s, 1200, { status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  apply(s, { type: 'run.resubmit', at: 20_000, run_id: 'r1', submissions: [{ job_id: 'r1-j0', submission_id: 'x1' }] })
  assign(s, 20_100)
  status(s, 200_000, { status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  assert.is(s.runs.r1!.status, 'failed')
  assert.is(s.runs.r1!.termination_reason, 'retry_limit_exceeded')
  assert.is(s.runs.r1!.status_message, 'retry limit exceeded')
})

test('stop: running jobs go terminating, then the run is terminated with stopped_by_user', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [sleep 100]')
  assign(s, 1100)
  status(s, 1200, { status: 'running' })
  apply(s, { type: 'run.stop', at: 1300, run_id: 'r1', abort: false })
  assert.is(s.runs.r1!.status, 'terminating')
  assert.is(sub(s).status, 'terminating')
  assert.is(sub(s).termination_reason, 'terminated_by_user')
  // The runtime reports the process' end; the reason decides the status.
  status(s, 1400, { status: 'failed', reason: null, exit_status: 130 })
  assert.is(sub(s).status, 'terminated')
  assert.is(s.runs.r1!.status, 'terminated')
  assert.is(s.runs.r1!.termination_reason, 'stopped_by_user')
})

test('abort: jobs end aborted; an abort may follow a stop', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [sleep 100]')
  assign(s, 1100)
  status(s, 1200, { status: 'running' })
  apply(s, { type: 'run.stop', at: 1300, run_id: 'r1', abort: false })
  apply(s, { type: 'run.stop', at: 1350, run_id: 'r1', abort: true })
  assert.is(sub(s).termination_reason, 'aborted_by_user')
  status(s, 1400, { status: 'terminated' })
  assert.is(sub(s).status, 'aborted')
  assert.is(s.runs.r1!.termination_reason, 'aborted_by_user')
})

test('stopping a run that was never placed ends it at once', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [x]')
  apply(s, { type: 'run.stop', at: 1300, run_id: 'r1', abort: false })
  assert.is(s.runs.r1!.status, 'terminated')
  assert.is(sub(s).status, 'terminated')
})

test('max_duration_exceeded: the job is terminated and the run fails with job_failed, as dstack does', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [sleep 100]\nmax_duration: 10s')
  assign(s, 1100)
  status(s, 1200, { status: 'running' })
  status(s, 11_200, { status: 'terminated', reason: 'max_duration_exceeded' })
  assert.is(sub(s).status, 'terminated')
  assert.is(s.runs.r1!.status, 'failed')
  assert.is(s.runs.r1!.termination_reason, 'job_failed')
})

test('inactivity_duration_exceeded: the job stops, keeps its reason through the run\'s end, and ends terminated', () => {
  const s = emptyState()
  submit(s, 'type: dev-environment\ninactivity_duration: 20s')
  assign(s, 1100)
  status(s, 1200, { status: 'running' })
  status(s, 30_000, { status: 'terminating', reason: 'inactivity_duration_exceeded' })
  assert.is(sub(s).termination_reason, 'inactivity_duration_exceeded')
  status(s, 31_000, { status: 'terminated', exit_status: 130 })
  assert.is(sub(s).status, 'terminated')
  assert.is(sub(s).termination_reason, 'inactivity_duration_exceeded')
})

test('deleting an instance ends its jobs (instance_unreachable, retried by policy), and it never registers again', () => {
  const s = emptyState()
  const offer = { backend: 'local', region: 'local', price: 0, spot: false, cpus: 4, memory: 8, disk: 100, gpus: [] } as any
  const register: Command = { type: 'instance.register', at: 900, fleet: { id: 'local', name: 'local' }, instance: { id: 'i1', name: 'h1', node: 'n1', hostname: 'host', address: '127.0.0.1', offer, warnings: [] } }
  assert.ok(apply(s, register).ok)
  submit(s, 'type: task\ncommands: [sleep 100]\nretry: {on_events: [error], duration: 1h}')
  submit(s, 'type: task\ncommands: [sleep 100]', 1000, null, 'r2')
  assign(s, 1100)
  status(s, 1200, { status: 'running' })
  assert.is(s.instances.i1!.status, 'busy')
  const res = apply(s, { type: 'instance.delete', at: 1300, instance_id: 'i1', by: 'admin' })
  assert.ok(res.ok)
  assert.is(s.instances.i1!.status, 'terminated')
  assert.is(sub(s).status, 'failed')
  assert.is(sub(s).termination_reason, 'instance_unreachable')
  assert.match(sub(s).termination_reason_message!, /instance h1 was deleted from fleet local/)
  assert.is(sub(s).finished_at, 1300)
  // the run with retry waits to be resubmitted; the job never placed is untouched
  assert.is.not(s.runs.r1!.resubmit_at, null)
  assert.is(sub(s, 'r2-j0').status, 'submitted')
  assert.ok(res.events.some(e => e.kind === 'instance.deleted' && /deleted from fleet local by admin/.test(e.message)))
  // again: nothing more happens; a later register of the same host is refused
  assert.equal(apply(s, { type: 'instance.delete', at: 1400, instance_id: 'i1', by: 'admin' }).events, [])
  const again = apply(s, { ...register, at: 1500 })
  assert.not.ok(again.ok)
  assert.is(!again.ok && again.code, 'deleted')
  assert.is(s.instances.i1!.status, 'terminated')
  assert.is(apply(s, { type: 'instance.delete', at: 1400, instance_id: 'nope', by: 'admin' }).ok, false)
})

test('run names: the lowest free number; an explicit name may be reused once the run ended', () => {
  const s = emptyState()
  submit(s, 'type: task\ncommands: [x]', 1, null, 'a')
  submit(s, 'type: task\ncommands: [x]', 2, null, 'b')
  assert.is(s.runs.b!.name, 'wet-mangust-2')
  const dup = apply(s, { type: 'run.submit', at: 3, run: { ...structuredClone(s.runs.a!), name: 'wet-mangust-1', name_base: 'x', id: 'c', spec: s.runs.a!.spec }, jobs: [] })
  assert.is(dup.ok, false)
  apply(s, { type: 'run.stop', at: 4, run_id: 'a', abort: false })
  const again = apply(s, { type: 'run.submit', at: 5, run: { ...structuredClone(s.runs.a!), name: 'wet-mangust-1', name_base: 'x', id: 'd', spec: s.runs.a!.spec }, jobs: [] })
  assert.ok(again.ok)
})

test('multi-node: ranks are contiguous across groups, master first', () => {
  const c = parseConfiguration('type: task\ngroups: [{nodes: 1, commands: [m]}, {name: w, nodes: 2, commands: [w]}]') as RunConfiguration
  const specs = jobSpecsFor(c, {})
  assert.equal(specs.map(j => [j.job_num, j.group, j.jobs_per_replica]), [[0, '0', 3], [1, 'w', 3], [2, 'w', 3]])
})

test('commands: joined with &&, background commands wrapped; entrypoint is shell-split', () => {
  assert.is(joinCommands(['a', 'b &', 'c && d']), 'a && { b & } && c && d')
  assert.equal(shellSplit(`python -m "my mod" 'a b' c\\ d`), ['python', '-m', 'my mod', 'a b', 'c d'])
  const c = parseConfiguration('type: task\nentrypoint: /bin/echo hello\ncommands: [x]') as RunConfiguration
  assert.equal(jobSpecsFor(c, {})[0]!.command, ['/bin/echo', 'hello', 'x'])
})

test('neither commands nor entrypoint: an image runs its own command (an empty argv for the runtime)', () => {
  const own = parseConfiguration('type: task\nimage: nginx') as RunConfiguration
  assert.equal(jobSpecsFor(own, {})[0]!.command, [])
  const service = parseConfiguration('type: service\nimage: nginx\nport: 80') as RunConfiguration
  assert.equal(jobSpecsFor(service, {})[0]!.command, [])
})

test('retry events and back-off follow SPEC §3.2 and §3.1', () => {
  assert.is(retryEventFor('failed_to_start_due_to_no_capacity'), 'no-capacity')
  assert.is(retryEventFor('interrupted_by_no_capacity'), 'interruption')
  assert.is(retryEventFor('container_exited_with_error'), 'error')
  assert.is(retryEventFor('terminated_by_user'), null)
  assert.equal([0, 1, 2, 3, 4, 5, 9].map(backoffSeconds), [15, 30, 60, 120, 300, 600, 600])
})

test('the same log gives the same state (determinism)', () => {
  const a = emptyState()
  const b = emptyState()
  for (const s of [a, b]) {
    submit(s, 'type: task\ncommands: [x]\nretry: true')
    assign(s, 1100)
    status(s, 1200, { status: 'failed', reason: 'executor_error' })
  }
  assert.equal(a, b)
})

test.run()
