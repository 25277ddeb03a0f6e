// A job that pulls its image before it runs: the `pulling` status with dstack's progress text
// (SPEC §3.1, §3.3), as the state machine records it and `ps` shows it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { runView } from '../../../daemon/api/views.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { apply, type Command } from '../../../daemon/state/machine.ts'
import { emptyState, type Placement, type State } from '../../../daemon/state/types.ts'

const PLACEMENT: Placement = { instance: 'i1', node: 'n1', hostname: 'host', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 }

function placed (nodes = 1): State {
  const s = emptyState()
  const configuration = parseConfiguration(`type: task\nnodes: ${nodes}\ncommands: [echo hi]`) as RunConfiguration
  const specs = jobSpecsFor(configuration, {})
  apply(s, {
    type: 'run.submit', at: 1000,
    run: { id: 'r1', name: 'pull', name_base: 'x', project: 'main', user: 'admin', priority: 0, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: specs.map((spec, i) => ({ id: `j${i}`, submission_id: `j${i}-s0`, spec }))
  })
  for (let i = 0; i < nodes; i++) apply(s, { type: 'job.assign', at: 1100, job_id: `j${i}`, submission_id: `j${i}-s0`, placement: PLACEMENT })
  return s
}

const say = (s: State, fields: Partial<Extract<Command, { type: 'job.status' }>>, job = 'j0', at = 1200) =>
  apply(s, { type: 'job.status', at, job_id: job, submission_id: `${job}-s0`, status: 'pulling', ...fields } as Command)
const sub = (s: State, job = 'j0') => s.jobs[job]!.submissions[0]!
const view = (s: State) => runView(s, s.runs.r1!)

test('pulling with progress: the job shows `pulling 12/30/45MB`, the run counts as provisioning', () => {
  const s = placed()
  say(s, { progress: '0/0/≥0MB' })
  say(s, { progress: '12/30/45MB' })
  assert.is(sub(s).status, 'pulling')
  assert.is(s.runs.r1!.status, 'provisioning')
  const v = view(s)
  assert.is(v.jobs[0]!.status_text, 'pulling 12/30/45MB')
  assert.is(v.jobs[0]!.progress, '12/30/45MB')
  assert.is(v.status_text, 'pulling 12/30/45MB', 'a single job\'s run shows its progress, as dstack\'s merged row does')
})

test('progress alone is no event: the pull is one event, however many updates', () => {
  const s = placed()
  const before = s.events.length
  for (let i = 0; i < 20; i++) say(s, { progress: `${i}/${i}/45MB` }, 'j0', 1200 + i)
  assert.is(s.events.length - before, 1)
})

test('running clears the progress, and a late progress report changes nothing', () => {
  const s = placed()
  say(s, { progress: '40/45/45MB' })
  apply(s, { type: 'job.status', at: 1300, job_id: 'j0', submission_id: 'j0-s0', status: 'running' })
  assert.is(sub(s).progress, null)
  say(s, { progress: '45/45/45MB' }, 'j0', 1301)
  assert.is(sub(s).status, 'running')
  assert.is(view(s).jobs[0]!.status_text, 'running')
  assert.is(view(s).jobs[0]!.progress, null)
})

test('stopped while pulling: the job stays terminating when its start is reported, then ends as stopped', () => {
  const s = placed()
  say(s, { progress: '1/2/45MB' })
  apply(s, { type: 'run.stop', at: 1250, run_id: 'r1', abort: false })
  assert.is(sub(s).status, 'terminating')
  say(s, { progress: '2/2/45MB' }, 'j0', 1260)
  assert.is(sub(s).status, 'terminating', 'a late progress report does not bring it back')
  apply(s, { type: 'job.status', at: 1300, job_id: 'j0', submission_id: 'j0-s0', status: 'running' })
  assert.is(sub(s).status, 'terminating', 'nor does its start: the agent then stops it')
  assert.is(sub(s).started_at, 1300)
  apply(s, { type: 'job.status', at: 1400, job_id: 'j0', submission_id: 'j0-s0', status: 'terminated', exit_status: 130 })
  assert.is(s.runs.r1!.status, 'terminated')
  assert.is(view(s).status_text, 'stopped')
})

test('the run is `pulling` only while every job pulls; several jobs show no one job\'s numbers', () => {
  const s = placed(2)
  say(s, { progress: '1/2/3MB' }, 'j0')
  assert.is(view(s).status_text, 'provisioning')
  say(s, { progress: '2/2/3MB' }, 'j1')
  assert.is(view(s).status_text, 'pulling')
  assert.equal(view(s).jobs.map(j => j.status_text), ['pulling 1/2/3MB', 'pulling 2/2/3MB'])
})

test('pulling without progress yet, and states from before the field: plain `pulling`', () => {
  const s = placed()
  say(s, {})
  assert.is(view(s).jobs[0]!.status_text, 'pulling')
  delete sub(s).progress
  assert.is(view(s).jobs[0]!.status_text, 'pulling')
  assert.is(view(s).jobs[0]!.progress, null)
})

test.run()
