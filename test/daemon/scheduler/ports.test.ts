// Ports as a host resource (daemon/scheduler/ports.ts): which ports a job binds on its host,
// and the scheduler never putting two jobs that need the same port on one host — the second goes
// to another host or waits, saying which port and who holds it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { schedule } from '../../../daemon/scheduler/index.ts'
import { portBook, portsOf } from '../../../daemon/scheduler/ports.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'
import { commit, ok, outcome, register, submitRun } from './fixtures.ts'

function host (state: State, id: string, cpus = 8): void {
  register(state, id, { cpus }, { name: `host-${id}` })
}

/** A run with id `id` (jobs `<id>-j0`, …) from a whole configuration, each job asking for 1 CPU. */
function submit (state: State, id: string, yaml: string, at = 1000): void {
  submitRun(state, id, `${yaml}\nresources: {cpu: 1, memory: 1GB, disk: 0..}`, { at })
}

const TASK = 'type: task\ncommands: [serve]'
const SERVICE = 'type: service\ncommands: [serve]\nport: 8000'

const portRows: Array<{ rule: string, yaml: string, ports: number[][] }> = [
  { rule: 'a task without ports binds none', yaml: TASK, ports: [[]] },
  { rule: 'a task binds its ports, container side', yaml: `${TASK}\nports: [8000, "9000:9001", "*:7000"]`, ports: [[8000, 9001, 7000]] },
  { rule: 'every node of a multi-node task binds the task\'s ports', yaml: `${TASK}\nnodes: 2\nports: [29500]`, ports: [[29500], [29500]] },
  { rule: 'a service\'s replicas each bind its port', yaml: `${SERVICE}\nreplicas: 2`, ports: [[8000], [8000]] },
  { rule: 'a service port given as local:container binds the container side', yaml: 'type: service\ncommands: [serve]\nport: "80:8080"', ports: [[8080]] },
  { rule: 'a dev environment binds its ports', yaml: 'type: dev-environment\nide: vscode\nports: [8888]', ports: [[8888]] },
  { rule: 'a job in a container maps its ports: it binds none of the host\'s', yaml: `${TASK}\nimage: ubuntu\nports: [8000]`, ports: [[]] },
  { rule: 'a service in a container binds none either', yaml: `${SERVICE}\nimage: ubuntu`, ports: [[]] }
]

for (const row of portRows) {
  test(`portsOf: ${row.rule}`, () => {
    const s = emptyState()
    submit(s, 'r', row.yaml)
    const run = s.runs.r!
    assert.equal(run.job_ids.map(id => portsOf(run, s.jobs[id]!)), row.ports)
  })
}

test('portBook: the active jobs\' ports, who holds them, and what a pass takes and gives back', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  submit(s, 'web', `${TASK}\nports: [8000]`)
  submit(s, 'done', `${TASK}\nports: [9000]`)
  commit(s, schedule(s))
  ok(s, { type: 'job.status', at: 3000, job_id: 'done-j0', submission_id: 'done-j0-s0', status: 'done', reason: 'done_by_runner' })
  const index = new Map([['a', 0], ['b', 1]])
  const book = portBook(s, index, k => ['host-a', 'host-b'][k]!)
  assert.equal(book.blocked([8000]), new Set([0]))
  assert.is(book.blocked([9000]), null, 'a finished job holds no port')
  assert.is(book.blocked([]), null)
  assert.is(book.conflict(0, [7000, 8000]), 'waiting for port 8000: in use on host-a by web-0-0')
  assert.is(book.conflict(1, [8000]), null)
  book.take(1, [8000, 7000], 'other-0-0')
  assert.equal(book.blocked([7000, 8000]), new Set([0, 1]))
  book.give(1, [8000, 7000])
  assert.equal(book.blocked([7000, 8000]), new Set([0]))
})

test('two replicas of a service on one port go to two hosts', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b')
  submit(s, 'svc', `${SERVICE}\nreplicas: 2`)
  const decisions = schedule(s)
  const placed = outcome(decisions)
  assert.equal(Object.keys(placed).sort(), ['svc-j0', 'svc-j1'])
  assert.equal(Object.values(placed).sort(), ['a', 'b'])
})

test('on one host the second replica waits, saying which port and who holds it; it goes once the port is free', () => {
  const s = emptyState()
  host(s, 'a')
  submit(s, 'svc', `${SERVICE}\nreplicas: 2`)
  const first = schedule(s)
  assert.equal(outcome(first), { 'svc-j0': 'a', 'svc-j1': 'wait: waiting for port 8000: in use on host-a by svc-0-0' })
  commit(s, first)
  assert.is(s.jobs['svc-j1']!.submissions[0]!.waiting_reason, 'waiting for port 8000: in use on host-a by svc-0-0')
  assert.equal(schedule(s), [], 'the same reason is not proposed again')
  ok(s, { type: 'job.status', at: 3000, job_id: 'svc-j0', submission_id: 'svc-j0-s0', status: 'failed', reason: 'container_exited_with_error', exit_status: 1 })
  // The run failed with its replica; a fresh run on the port now finds it free.
  submit(s, 'next', `${SERVICE}`, 4000)
  assert.equal(outcome(schedule(s)), { 'next-j0': 'a' })
})

test('jobs on different ports share a host; a job in a container never waits for a port', () => {
  const s = emptyState()
  host(s, 'a')
  submit(s, 'one', `${TASK}\nports: [8000]`)
  submit(s, 'two', `${TASK}\nports: [8001]`, 1001)
  submit(s, 'boxed', `${TASK}\nimage: ubuntu\nports: [8000]`, 1002)
  submit(s, 'plain', TASK, 1003)
  assert.equal(outcome(schedule(s)), { 'one-j0': 'a', 'two-j0': 'a', 'boxed-j0': 'a', 'plain-j0': 'a' })
})

test('a port held elsewhere does not hide a lack of room: the wait says what is missing', () => {
  const s = emptyState()
  host(s, 'a', 1); host(s, 'b', 1)
  submit(s, 'web', `${TASK}\nports: [8000]`)
  submit(s, 'filler', TASK, 1001)
  commit(s, schedule(s))
  submit(s, 'web2', `${TASK}\nports: [8000]`, 1002)
  assert.equal(outcome(schedule(s)), { 'web2-j0': 'wait: waiting for 1 CPU(s): 0 free' })
})

test('a multi-node task needing a port goes whole to hosts where it is free, or waits whole', () => {
  const s = emptyState()
  host(s, 'a'); host(s, 'b'); host(s, 'c')
  submit(s, 'web', `${TASK}\nports: [29500]`)
  const first = schedule(s)
  assert.equal(outcome(first), { 'web-j0': 'a' })
  commit(s, first)
  submit(s, 'dist', `${TASK}\nnodes: 2\nports: [29500]`, 1001)
  assert.equal(outcome(schedule(s)), { 'dist-j0': 'b', 'dist-j1': 'c' })
  submit(s, 'dist3', `${TASK}\nnodes: 3\nports: [29500]`, 999)
  // Older, so first: it cannot have three hosts with the port free, gives back what it took, and dist still goes.
  assert.equal(outcome(schedule(s)), {
    'dist3-j0': 'wait: waiting for 3 instances that fit: 2 free',
    'dist3-j1': 'wait: waiting for 3 instances that fit: 2 free',
    'dist3-j2': 'wait: waiting for 3 instances that fit: 2 free',
    'dist-j0': 'b',
    'dist-j1': 'c'
  })
})

test.run()
