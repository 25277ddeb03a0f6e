// The scheduler's pass (`schedule`): bin-packing, why a job waits or can never run, priorities
// without head-of-line blocking, and multi-node replicas placed whole on distinct hosts.
// States are built through the state machine, as the leader's replicated state is.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { schedule, type Decision } from '../../../daemon/scheduler/index.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'
import { commit, ok, outcome, register, submitRun } from './fixtures.ts'

/** An SSH host with `gpus` GPUs of one name. */
function host (state: State, id: string, { gpus = 8, name = 'A100', cpus = 64, memory = 512 } = {}): void {
  register(state, id, {
    backend: 'ssh', instance_type: 'ssh', cpus, memory, disk: 0,
    gpus: Array.from({ length: gpus }, () => ({ vendor: 'nvidia' as const, name, memory: 80 }))
  }, { name: `host-${id}`, node: `n-${id}`, hostname: `h-${id}` })
}

/** A task run with id `id` (jobs `<id>-j0`, `<id>-j1`, …) from the YAML after `type: task`. */
function submit (state: State, id: string, yaml: string, opts: { at?: number, priority?: number } = {}): void {
  submitRun(state, id, `type: task\ncommands: [train]\n${yaml}`, opts)
}

const GPU = (n: number, name = 'A100') => `resources: {gpu: ${name}:${n}, cpu: 4.., memory: 16GB..}\n`

test('bin-packing: the host left with the least room, ties to the lowest id; the job takes its share', () => {
  const s = emptyState()
  host(s, 'c'); host(s, 'b'); host(s, 'a')
  submit(s, 'busy', GPU(6))
  const first = schedule(s)
  assert.equal(outcome(first), { 'busy-j0': 'a' }, 'equal hosts: the lowest id')
  commit(s, first)
  submit(s, 'small', GPU(2))
  const [d] = schedule(s)
  assert.is(d?.kind, 'assign')
  if (d?.kind !== 'assign') return
  assert.is(d.placement.instance, 'a', 'the host with 2 GPUs free fills up rather than an empty one')
  assert.equal({ cpus: d.placement.cpus, memory: d.placement.memory, gpus: d.placement.gpus }, { cpus: 4, memory: 16, gpus: 2 })
  assert.is(d.placement.hostname, 'h-a')
})

test('capacity taken earlier in a pass counts for later jobs', () => {
  const s = emptyState()
  host(s, 'a', { gpus: 4 }); host(s, 'b', { gpus: 4 })
  for (const id of ['r1', 'r2', 'r3']) submit(s, id, GPU(3))
  assert.equal(outcome(schedule(s)), { 'r1-j0': 'a', 'r2-j0': 'b', 'r3-j0': 'wait: waiting for 3 GPU(s): 1 free' })
})

test('no capacity: a job no instance could ever hold fails with dstack\'s reason', () => {
  const none = emptyState()
  submit(none, 'r1', GPU(1))
  assert.equal(outcome(schedule(none)), { 'r1-j0': 'never: No matching fleet found: no instances are registered' })

  const s = emptyState()
  host(s, 'a'); host(s, 'b', { gpus: 4 })
  submit(s, 'h100', GPU(1, 'H100'))
  submit(s, 'many', GPU(8), { at: 1001 })
  submit(s, 'nodes', `nodes: 3\n${GPU(1)}`, { at: 1002 })
  assert.equal(outcome(schedule(s)), {
    'h100-j0': 'never: No matching fleet found: no instance fits (host-a: gpu A100 not in H100; host-b: gpu A100 not in H100)',
    'many-j0': 'a',
    'nodes-j0': 'never: No matching fleet found: 3 nodes needed, 2 instance(s) fit',
    'nodes-j1': 'never: No matching fleet found: 3 nodes needed, 2 instance(s) fit',
    'nodes-j2': 'never: No matching fleet found: 3 nodes needed, 2 instance(s) fit'
  })
})

test('wait: a job that fits but finds no room waits with a reason, given again only when it changes', () => {
  const s = emptyState()
  host(s, 'a')
  submit(s, 'busy', GPU(8))
  commit(s, schedule(s))
  submit(s, 'r1', GPU(1), { at: 1001 })
  const first = schedule(s)
  assert.equal(outcome(first), { 'r1-j0': 'wait: waiting for 1 GPU(s): 0 free' })
  commit(s, first)
  assert.equal(schedule(s), [], 'the same reason is not proposed again')
  assert.is(s.jobs['r1-j0']!.submissions[0]!.waiting_reason, 'waiting for 1 GPU(s): 0 free')
})

test('priorities: higher first, then oldest; a job that does not fit never blocks one that does', () => {
  const s = emptyState()
  host(s, 'a', { gpus: 4 })
  submit(s, 'old-low', GPU(2), { at: 1000, priority: 0 })
  submit(s, 'new-high', GPU(3), { at: 1005, priority: 10 })
  submit(s, 'huge-high', GPU(4), { at: 1001, priority: 50 })
  submit(s, 'new-low', GPU(1), { at: 1002, priority: 0 })
  // huge-high takes the host first; nothing else fits. Without it, new-high goes before the older old-low.
  assert.equal(outcome(schedule(s)), {
    'huge-high-j0': 'a',
    'new-high-j0': 'wait: waiting for 3 GPU(s): 0 free',
    'old-low-j0': 'wait: waiting for 2 GPU(s): 0 free',
    'new-low-j0': 'wait: waiting for 1 GPU(s): 0 free'
  })
  ok(s, { type: 'run.stop', at: 1500, run_id: 'huge-high', abort: true })
  assert.equal(outcome(schedule(s)), { 'new-high-j0': 'a', 'old-low-j0': 'wait: waiting for 2 GPU(s): 1 free', 'new-low-j0': 'a' })

  // A high-priority job too big for the free room waits; the low-priority one behind it runs.
  const t = emptyState()
  host(t, 'a', { gpus: 4 })
  submit(t, 'big', GPU(4), { priority: 10 })
  submit(t, 'busy', GPU(1), { priority: 100 })
  submit(t, 'small', GPU(2), { priority: 0 })
  assert.equal(outcome(schedule(t)), { 'busy-j0': 'a', 'big-j0': 'wait: waiting for 4 GPU(s): 3 free', 'small-j0': 'a' })
})

test('multi-node: a replica is placed whole, master first, one node per host', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b'); host(s, 'c')
  submit(s, 'mn', `nodes: 2\n${GPU(1)}`)
  const decisions = schedule(s)
  // On one host both nodes would pack tighter; a replica's nodes never share one.
  assert.equal(decisions.map(d => [d.job.id, d.kind === 'assign' ? d.placement.instance : d.kind]), [['mn-j0', 'a'], ['mn-j1', 'b']])
})

test('multi-node: all or nothing; the capacity it would have held goes to others', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  submit(s, 'busy', GPU(4))
  commit(s, schedule(s))
  submit(s, 'mn', `nodes: 2\n${GPU(8)}`, { at: 1001, priority: 50 })
  submit(s, 'single', GPU(8), { at: 1002 })
  const decisions = schedule(s)
  assert.equal(outcome(decisions), {
    'mn-j0': 'wait: waiting for 2 instances that fit: 1 free',
    'mn-j1': 'wait: waiting for 2 instances that fit: 1 free',
    'single-j0': 'b'
  })
  // A reason tells the room when the job's turn came; the next pass sees b taken too, then it stands.
  commit(s, decisions)
  commit(s, schedule(s))
  assert.is(s.jobs['mn-j0']!.submissions[0]!.waiting_reason, 'waiting for 2 instances that fit: 0 free')
  assert.equal(schedule(s), [])
  // Once the busy job ends, both hosts are free for the whole replica.
  ok(s, { type: 'run.stop', at: 2100, run_id: 'busy', abort: true })
  ok(s, { type: 'run.stop', at: 2100, run_id: 'single', abort: true })
  for (const id of ['busy-j0', 'single-j0']) ok(s, { type: 'job.status', at: 2200, job_id: id, submission_id: `${id}-s0`, status: 'aborted' })
  assert.equal(outcome(schedule(s)), { 'mn-j0': 'a', 'mn-j1': 'b' })
})

test('multi-node: a replica with a job that can never run fails that job and places none', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b', { cpus: 8 })
  submit(s, 'mn', 'nodes: 2\nresources: {gpu: A100:1, cpu: 16..}\n')
  assert.equal(outcome(schedule(s)), {
    'mn-j0': 'never: No matching fleet found: 2 nodes needed, 1 instance(s) fit',
    'mn-j1': 'never: No matching fleet found: 2 nodes needed, 1 instance(s) fit'
  })
})

test('multi-node: the waiting rest of a replica goes to hosts its placed jobs do not hold', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  submit(s, 'mn', `nodes: 2\n${GPU(1)}`)
  // Only the worker was placed (as after a resubmission of part of the replica), on a.
  const [, worker] = schedule(s)
  assert.ok(worker?.kind === 'assign' && worker.job.id === 'mn-j1')
  commit(s, [{ ...worker!, placement: { ...(worker as Extract<Decision, { kind: 'assign' }>).placement, instance: 'a' } }])
  assert.equal(outcome(schedule(s)), { 'mn-j0': 'b' }, 'a packs tighter but holds the worker')
  // With b full, the master waits rather than join its worker on a.
  submit(s, 'busy', GPU(8), { at: 900 })
  assert.equal(outcome(schedule(s)), { 'busy-j0': 'b', 'mn-j0': 'wait: waiting for 1 instance that fit: 0 free' })
})

test('instances that are unreachable or terminating are skipped', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b'); host(s, 'c')
  submit(s, 'busy', GPU(6))
  commit(s, schedule(s))
  ok(s, { type: 'instance.reachable', at: 1100, instance_id: 'a', reachable: false })
  s.instances.b!.status = 'terminating'
  submit(s, 'r1', GPU(2), { at: 1001 })
  assert.equal(outcome(schedule(s)), { 'r1-j0': 'c' }, 'a would pack tighter, b is next by id')
  ok(s, { type: 'instance.reachable', at: 1200, instance_id: 'a', reachable: true })
  assert.equal(outcome(schedule(s)), { 'r1-j0': 'a' })
})

test('a job only an unreachable instance could hold waits for it, rather than failing for no capacity', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  ok(s, { type: 'instance.reachable', at: 1100, instance_id: 'a', reachable: false })
  submit(s, 'pair', `nodes: 2\n${GPU(1)}`)
  const waiting = outcome(schedule(s))
  assert.ok(Object.values(waiting).every(v => v.startsWith('wait:')), JSON.stringify(waiting))
  ok(s, { type: 'instance.reachable', at: 1200, instance_id: 'a', reachable: true })
  assert.equal(Object.values(outcome(schedule(s))).sort(), ['a', 'b'])
})

test('a pass is pure: the state is left as it was and a second pass decides the same', () => {
  const s = emptyState()
  host(s, 'a', { gpus: 4 }); host(s, 'b', { gpus: 2, name: 'L4' })
  submit(s, 'r1', GPU(2)); submit(s, 'r2', `nodes: 2\n${GPU(1)}`, { at: 1001 }); submit(s, 'r3', GPU(1, 'L4'), { at: 1002 })
  const before = JSON.stringify(s)
  const first = outcome(schedule(s))
  assert.is(JSON.stringify(s), before)
  assert.equal(outcome(schedule(s)), first)
  // A copy of the state (new objects, as after a snapshot) decides the same too.
  assert.equal(outcome(schedule(JSON.parse(before) as State)), first)
})

test.run()
