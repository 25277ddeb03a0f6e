// The host keeper's decisions (`reconcileHosts`): what the leader hears of each host, and what
// the state says of it, in; register / reachable / unreachable / lost commands out. Then what
// `instance.lost` does to the jobs of a host silent past the grace: they fail with
// instance_unreachable, and their runs retry by policy or end.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Offer } from '../../../daemon/config/index.ts'
import { reconcileHosts, type HostRecord, type Liveness } from '../../../daemon/scheduler/hosts.ts'
import { apply, type Command } from '../../../daemon/state/machine.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'
import { ok, register, submitRun } from './fixtures.ts'

const offer = (cpus = 8): Offer => ({ backend: 'local', region: 'local', instance_type: 'x', price: 0, spot: false, cpu_arch: 'x86', cpus, memory: 16, disk: 100, gpus: [] })

/** An instance in the state: the peer id is also its instance id. */
interface Known {
  id: string
  name?: string
  cpus?: number
  /** Marked unreachable at this time (ms). */
  unreachableAt?: number
  /** An unreachable instance from a state written before `unreachable_since` existed. */
  sinceUnknown?: boolean
  deleted?: boolean
  /** A job placed on it, in this status. */
  job?: 'running' | 'done' | 'terminating'
}

/** A host the leader hears of on the gossip topic. */
interface Heard { id: string, name?: string, cpus?: number, alive?: boolean }

function stateOf (known: Known[]): State {
  const s = emptyState()
  for (const k of known) {
    const name = k.name ?? k.id
    register(s, k.id, offer(k.cpus), { name, hostname: name })
    if (k.job !== undefined) {
      const run = `run-${k.id}`
      submitRun(s, run, 'type: task\ncommands: [sleep 100]', { at: 2 })
      ok(s, { type: 'job.assign', at: 3, job_id: `${run}-j0`, submission_id: `${run}-j0-s0`, placement: { instance: k.id, node: k.id, hostname: name, address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
      ok(s, { type: 'job.status', at: 4, job_id: `${run}-j0`, submission_id: `${run}-j0-s0`, status: 'running' })
      if (k.job === 'done') ok(s, { type: 'job.status', at: 5, job_id: `${run}-j0`, submission_id: `${run}-j0-s0`, status: 'done', reason: 'done_by_runner' })
      if (k.job === 'terminating') ok(s, { type: 'run.stop', at: 5, run_id: run, abort: false })
    }
    if (k.unreachableAt !== undefined) ok(s, { type: 'instance.reachable', at: k.unreachableAt, instance_id: k.id, reachable: false })
    if (k.sinceUnknown) delete s.instances[k.id]!.unreachable_since
    if (k.deleted) ok(s, { type: 'instance.delete', at: 6, instance_id: k.id, by: 'admin' })
  }
  return s
}

function livenessOf (heard: Heard[], warmingUp: boolean): Liveness {
  const records = heard.map(h => ({ peer: h.id, seq: 1, seenAt: 0, data: { name: h.name ?? h.id, hostname: h.name ?? h.id, address: '127.0.0.1', offer: offer(h.cpus), warnings: [], version: 'test' } satisfies HostRecord }))
  return { records: () => records, alive: peer => heard.some(h => h.id === peer && h.alive !== false), warmingUp: () => warmingUp }
}

/** A command in a few words: `register a as a-2`, `unreachable a`, `lost a after 120s`. */
function brief (cmd: Command): string {
  switch (cmd.type) {
    case 'instance.register': return `register ${cmd.instance.id} as ${cmd.instance.name}`
    case 'instance.reachable': return `${cmd.reachable ? 'reachable' : 'unreachable'} ${cmd.instance_id}`
    case 'instance.lost': return `lost ${cmd.instance_id} after ${cmd.grace}s`
    default: return cmd.type
  }
}

const T0 = 1_000_000
const rows: Array<{ rule: string, known: Known[], heard: Heard[], warmingUp?: boolean, now?: number, grace?: number, expect: string[] }> = [
  { rule: 'a new host is registered under its own name', known: [], heard: [{ id: 'a' }], expect: ['register a as a'] },
  { rule: 'a host heard as it is registered: nothing', known: [{ id: 'a' }], heard: [{ id: 'a' }], expect: [] },
  { rule: 'a host whose inventory changed is registered again', known: [{ id: 'a' }], heard: [{ id: 'a', cpus: 4 }], expect: ['register a as a'] },
  { rule: 'a name another instance holds gets a suffix', known: [{ id: 'a', name: 'gpu' }], heard: [{ id: 'a', name: 'gpu' }, { id: 'b', name: 'gpu' }], expect: ['register b as gpu-2'] },
  { rule: 'a record heard but not alive registers nothing', known: [], heard: [{ id: 'a', alive: false }], expect: [] },
  { rule: 'an unreachable host heard again unchanged is reachable', known: [{ id: 'a', unreachableAt: T0 }], heard: [{ id: 'a' }], expect: ['reachable a'] },
  { rule: 'an unreachable host heard again changed is registered (reachable with it)', known: [{ id: 'a', unreachableAt: T0 }], heard: [{ id: 'a', cpus: 2 }], expect: ['register a as a'] },
  { rule: 'a deleted host is never registered again', known: [{ id: 'a', deleted: true }], heard: [{ id: 'a' }], expect: [] },
  { rule: 'a registered host gone silent is unreachable', known: [{ id: 'a' }], heard: [], now: T0, expect: ['unreachable a'] },
  { rule: 'silence while warming up proves nothing', known: [{ id: 'a' }], heard: [], warmingUp: true, expect: [] },
  { rule: 'an unreachable host within the grace keeps its jobs', known: [{ id: 'a', unreachableAt: T0, job: 'running' }], heard: [], now: T0 + 120_000, expect: [] },
  { rule: 'past the grace, its unfinished jobs are given up', known: [{ id: 'a', unreachableAt: T0, job: 'running' }], heard: [], now: T0 + 120_001, expect: ['lost a after 120s'] },
  { rule: 'a job asked to stop counts as unfinished', known: [{ id: 'a', unreachableAt: T0, job: 'terminating' }], heard: [], now: T0 + 200_000, expect: ['lost a after 120s'] },
  { rule: 'past the grace with nothing unfinished there: nothing', known: [{ id: 'a', unreachableAt: T0, job: 'done' }], heard: [], now: T0 + 200_000, expect: [] },
  { rule: 'the grace is the caller\'s', known: [{ id: 'a', unreachableAt: T0, job: 'running' }], heard: [], now: T0 + 3001, grace: 3, expect: ['lost a after 3s'] },
  { rule: 'past the grace but heard again: reachable, nothing given up', known: [{ id: 'a', unreachableAt: T0, job: 'running' }], heard: [{ id: 'a' }], now: T0 + 200_000, expect: ['reachable a'] },
  { rule: 'past the grace while warming up: nothing given up yet', known: [{ id: 'a', unreachableAt: T0, job: 'running' }], heard: [], warmingUp: true, now: T0 + 200_000, expect: [] },
  { rule: 'unreachable since a time the state does not know: nothing given up', known: [{ id: 'a', unreachableAt: T0, sinceUnknown: true, job: 'running' }], heard: [], now: T0 + 200_000, expect: [] },
  { rule: 'only the overdue host is given up', known: [{ id: 'a', unreachableAt: T0, job: 'running' }, { id: 'b', unreachableAt: T0 + 100_000, job: 'running' }, { id: 'c', job: 'running' }], heard: [{ id: 'c' }], now: T0 + 150_000, expect: ['lost a after 120s'] }
]

for (const row of rows) {
  test(`reconcileHosts: ${row.rule}`, () => {
    const cmds = reconcileHosts(stateOf(row.known), livenessOf(row.heard, row.warmingUp ?? false), row.now ?? T0, 7, row.grace)
    assert.equal(cmds.map(brief), row.expect)
    for (const c of cmds) assert.is((c as { term?: number }).term, 7, 'planned in the leader\'s term')
  })
}

test('instance.lost: the jobs fail with instance_unreachable; a run with retry waits to be resubmitted, one without ends failed', () => {
  const s = stateOf([{ id: 'a', unreachableAt: T0 }])
  const configurations = { retried: 'retry: {on_events: [error], duration: 1h}\n', plain: '' }
  for (const [run, extra] of Object.entries(configurations)) {
    submitRun(s, run, `type: task\ncommands: [sleep 100]\n${extra}`, { at: T0 })
    ok(s, { type: 'job.assign', at: T0, job_id: `${run}-j0`, submission_id: `${run}-j0-s0`, placement: { instance: 'a', node: 'a', hostname: 'a', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
  }
  const [lost] = reconcileHosts(s, livenessOf([], false), T0 + 121_000, 1)
  assert.is(lost?.type, 'instance.lost')
  const res = apply(s, lost!)
  assert.ok(res.ok)
  for (const run of Object.keys(configurations)) {
    const sub = s.jobs[`${run}-j0`]!.submissions[0]!
    assert.is(sub.status, 'failed')
    assert.is(sub.termination_reason, 'instance_unreachable')
    assert.match(sub.termination_reason_message!, /instance a unreachable for more than 120s: the job was given up \(the host stops it if it answers again\)/)
  }
  assert.is(s.runs.retried!.status, 'pending')
  assert.is.not(s.runs.retried!.resubmit_at, null)
  assert.is(s.runs.plain!.status, 'failed')
  // The instance stays in the fleet, unreachable, with nothing held.
  assert.is(s.instances.a!.status, 'idle')
  assert.is(s.instances.a!.unreachable, true)
  assert.ok(res.events.some(e => e.kind === 'instance.lost' && /2 job\(s\) failed with instance_unreachable/.test(e.message)), JSON.stringify(res.events))
  // Nothing more to give up; a late report from the host changes nothing.
  assert.equal(reconcileHosts(s, livenessOf([], false), T0 + 122_000, 1), [])
  ok(s, { type: 'job.status', at: T0 + 130_000, job_id: 'plain-j0', submission_id: 'plain-j0-s0', status: 'done', reason: 'done_by_runner' })
  assert.is(s.jobs['plain-j0']!.submissions[0]!.status, 'failed')
})

test('instance.lost: a job asked to stop ends as asked; a host that answered before it committed is left alone', () => {
  const s = stateOf([{ id: 'a', unreachableAt: T0, job: 'terminating' }, { id: 'b', job: 'running' }])
  ok(s, { type: 'instance.lost', at: T0 + 200_000, instance_id: 'a', grace: 120 })
  const stopped = s.jobs['run-a-j0']!.submissions[0]!
  assert.is(stopped.status, 'terminated')
  assert.is(stopped.termination_reason, 'terminated_by_user')
  assert.is(s.runs['run-a']!.status, 'terminated')
  const refused = apply(s, { type: 'instance.lost', at: T0 + 200_000, instance_id: 'b', grace: 120 })
  assert.is(refused.ok, false)
  assert.is(!refused.ok && refused.code, 'stale')
  assert.is(s.jobs['run-b-j0']!.submissions[0]!.status, 'running')
  // Marked reachable, then unreachable again: the grace counts from the new mark.
  ok(s, { type: 'instance.reachable', at: T0 + 300_000, instance_id: 'a', reachable: true })
  assert.is(s.instances.a!.unreachable_since, null)
  ok(s, { type: 'instance.reachable', at: T0 + 400_000, instance_id: 'a', reachable: false })
  assert.is(s.instances.a!.unreachable_since, T0 + 400_000)
})

test.run()
