// The leader's pass (`plan`): a state and the time in, the commands it proposes out — placements,
// wait reasons, no-capacity failures, and resubmissions once a run's retry back-off is over —
// each stamped with the time and the term it was planned in.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { plan } from '../../../daemon/scheduler/controller.ts'
import type { Command } from '../../../daemon/state/machine.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'
import { ok, register, submitRun } from './fixtures.ts'

function host (s: State, id: string, cpus = 4): void {
  register(s, id, { cpus, memory: 16 })
}

/** A run `id` (jobs `<id>-j0`, …) asking for `cpus` CPUs a job, from the YAML after the type. */
function submit (s: State, id: string, yaml = 'type: task\ncommands: [x]', cpus = 1): void {
  submitRun(s, id, `${yaml}\nresources: {cpu: ${cpus}, memory: 1GB, disk: 0..}`)
}

/** Places job `<id>-j<n>` on `instance` and reports it ended with `reason` at `at`. */
function placeAndEnd (s: State, id: string, instance: string, reason: 'container_exited_with_error' | 'done_by_runner' | null, at = 2000): void {
  const sub = s.jobs[id]!.submissions.at(-1)!
  ok(s, { type: 'job.assign', at, job_id: id, submission_id: sub.id, placement: { instance, node: instance, hostname: instance, address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
  ok(s, { type: 'job.status', at, job_id: id, submission_id: sub.id, status: 'running' })
  if (reason === 'done_by_runner') ok(s, { type: 'job.status', at, job_id: id, submission_id: sub.id, status: 'done', reason })
  if (reason === 'container_exited_with_error') ok(s, { type: 'job.status', at, job_id: id, submission_id: sub.id, status: 'failed', reason, exit_status: 1 })
}

/** A command in a few words. */
function brief (cmd: Command): string {
  switch (cmd.type) {
    case 'job.assign': return `assign ${cmd.job_id} to ${cmd.placement.instance}`
    case 'job.wait': return `wait ${cmd.job_id}: ${cmd.reason}`
    case 'job.status': return `fail ${cmd.job_id}: ${cmd.reason}: ${cmd.message}`
    case 'run.resubmit': return `resubmit ${cmd.run_id}: ${cmd.submissions.map(x => x.job_id).join(' ') || 'nothing'}`
    default: return cmd.type
  }
}

const RETRY = 'type: task\ncommands: [x]\nretry: {on_events: [error], duration: 1h}'
// The first back-off is 15 s: a job failed at 2000 is resubmitted from 17000.
const rows: Array<{ rule: string, setup: (s: State) => void, now?: number, expect: string[] }> = [
  { rule: 'nothing waiting, nothing to do', setup: s => host(s, 'a'), expect: [] },
  { rule: 'a job that fits is placed', setup: s => { host(s, 'a'); submit(s, 'r') }, expect: ['assign r-j0 to a'] },
  { rule: 'a job that fits nowhere now waits, with the reason', setup: s => { host(s, 'a', 1); submit(s, 'big'); placeAndEnd(s, 'big-j0', 'a', null); submit(s, 'r') }, expect: ['wait r-j0: waiting for 1 CPU(s): 0 free'] },
  { rule: 'a job no instance could ever hold fails for no capacity', setup: s => { host(s, 'a', 1); submit(s, 'r', undefined, 2) }, expect: ['fail r-j0: failed_to_start_due_to_no_capacity: No matching fleet found: no instance fits (a: cpus 1 not in 2)'] },
  { rule: 'with no instance at all, the same', setup: s => submit(s, 'r'), expect: ['fail r-j0: failed_to_start_due_to_no_capacity: No matching fleet found: no instances are registered'] },
  { rule: 'a run in its back-off is not resubmitted early', setup: s => { host(s, 'a'); submit(s, 'r', RETRY); placeAndEnd(s, 'r-j0', 'a', 'container_exited_with_error') }, now: 16_999, expect: [] },
  { rule: 'once the back-off is over, the failed job gets a new submission', setup: s => { host(s, 'a'); submit(s, 'r', RETRY); placeAndEnd(s, 'r-j0', 'a', 'container_exited_with_error') }, now: 17_000, expect: ['resubmit r: r-j0'] },
  { rule: 'the retry unit is the replica: every node of a multi-node task', setup: s => {
      host(s, 'a'); host(s, 'b'); submit(s, 'r', `${RETRY}\nnodes: 2`)
      placeAndEnd(s, 'r-j1', 'b', null); placeAndEnd(s, 'r-j0', 'a', 'container_exited_with_error')
      // The other node was asked to stop so the replica can be resubmitted whole.
      assert.is(s.jobs['r-j1']!.submissions[0]!.status, 'terminating')
      ok(s, { type: 'job.status', at: 2000, job_id: 'r-j1', submission_id: 'r-j1-s0', status: 'terminated' })
    }, now: 17_000, expect: ['resubmit r: r-j0 r-j1'] },
  { rule: 'a job that failed without retry ends its run: nothing to resubmit', setup: s => { host(s, 'a'); submit(s, 'r'); placeAndEnd(s, 'r-j0', 'a', 'container_exited_with_error') }, now: 100_000, expect: [] },
  { rule: 'a run that is done is left alone', setup: s => { host(s, 'a'); submit(s, 'r', RETRY); placeAndEnd(s, 'r-j0', 'a', 'done_by_runner') }, now: 100_000, expect: [] },
  {
    rule: 'a job lost with its host is resubmitted after the back-off, and placed on a host that answers',
    setup: s => {
      host(s, 'a'); host(s, 'b'); submit(s, 'r', RETRY); placeAndEnd(s, 'r-j0', 'a', null)
      ok(s, { type: 'instance.reachable', at: 2000, instance_id: 'a', reachable: false })
      ok(s, { type: 'instance.lost', at: 2000, instance_id: 'a', grace: 120 })
    },
    now: 17_000,
    expect: ['resubmit r: r-j0']
  }
]

for (const row of rows) {
  test(`plan: ${row.rule}`, () => {
    const s = emptyState()
    row.setup(s)
    const now = row.now ?? 5000
    const cmds = plan(s, now, 3)
    assert.equal(cmds.map(brief), row.expect)
    for (const c of cmds) {
      assert.is(c.at, now)
      assert.is((c as { term?: number }).term, 3, `${c.type} carries the term it was planned in`)
    }
  })
}

test('plan: what one pass proposes, applied, leads to the next: resubmitted, then placed away from the lost host', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  submit(s, 'r', RETRY)
  placeAndEnd(s, 'r-j0', 'a', null)
  ok(s, { type: 'instance.reachable', at: 2000, instance_id: 'a', reachable: false })
  ok(s, { type: 'instance.lost', at: 2000, instance_id: 'a', grace: 120 })
  for (const cmd of plan(s, 17_000, 3)) ok(s, cmd)
  assert.equal(plan(s, 17_001, 3).map(brief), ['assign r-j0 to b'])
})

test.run()
