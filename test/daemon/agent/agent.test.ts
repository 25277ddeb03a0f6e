// The agent against an in-memory store (the real state machine, no Raft) and a fake Runtime:
// what it starts, what it reports, how it stops and re-adopts jobs, all through the interface.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { startAgent, type Agent } from '../../../daemon/agent/index.ts'
import type { JobsArea } from '../../../daemon/agent/jobs-area.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { apply, type ApplyResult, type Command } from '../../../daemon/state/machine.ts'
import type { StateStore } from '../../../daemon/state/store.ts'
import { emptyState, type JobSubmission, type State } from '../../../daemon/state/types.ts'
import type { JobExit, JobInfo, JobSpec, Runtime } from '../../../drivers/runtime/index.ts'

const ME = 'node-me'
const tmp = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-agent-test-'))
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** The state machine applied in memory: what the agent proposes is what it then reads. */
function memoryStore (): StateStore & { proposed: Command[] } {
  const state: State = emptyState()
  const listeners = new Set<(cmd: Command | null, r: ApplyResult | null) => void>()
  const proposed: Command[] = []
  return {
    state,
    proposed,
    async propose (cmd) {
      proposed.push(cmd)
      const r = apply(state, cmd)
      for (const fn of [...listeners]) fn(cmd, r)
      return r
    },
    subscribe (fn) { listeners.add(fn); return () => listeners.delete(fn) },
    async close () {}
  }
}

interface FakeJob { spec: JobSpec, exit: Promise<JobExit>, end: (e: Partial<JobExit>) => void }

/** A Runtime that runs nothing: a test ends each job when it likes. */
function fakeRuntime (opts: { refuse?: string, found?: Record<string, JobInfo | JobExit | null> } = {}) {
  const jobs = new Map<string, FakeJob>()
  const calls: string[] = []
  const dirs = new Map<string, string>()
  const track = (id: string, spec: JobSpec): FakeJob => {
    let end!: (e: Partial<JobExit>) => void
    const exit = new Promise<JobExit>(resolve => { end = e => resolve({ exitCode: 0, signal: null, reason: 'exited', finishedAt: Date.now(), ...e }) })
    const job = { spec, exit, end }
    jobs.set(id, job)
    return job
  }
  const info = (id: string): JobInfo => ({ id, pid: 4242, startedAt: Date.now(), limits: { applied: false, why: 'no limits requested' } })
  const runtime: Runtime = {
    name: 'fake',
    async start (spec) {
      calls.push(`start ${spec.id}`)
      if (opts.refuse) return { exitCode: null, signal: null, reason: 'exited', finishedAt: Date.now(), message: opts.refuse }
      track(spec.id, spec)
      return info(spec.id)
    },
    async recover (id, dir) {
      calls.push(`recover ${id}`)
      dirs.set(id, dir)
      const found = opts.found?.[id] ?? null
      if (found && !('reason' in found)) track(id, null as unknown as JobSpec)
      if (found && 'reason' in found) { const j = track(id, null as unknown as JobSpec); j.end(found) }
      return found
    },
    wait (id) { return jobs.get(id)?.exit ?? Promise.reject(new Error(`unknown job ${id}`)) },
    async stop (id, graceMs) { calls.push(`stop ${id} ${graceMs}`); jobs.get(id)?.end({ reason: 'stopped', exitCode: 130 }) },
    async kill (id) { calls.push(`kill ${id}`); jobs.get(id)?.end({ reason: 'killed', exitCode: null, signal: 'SIGKILL' }) },
    async * logs () {},
    async stats () { return null }
  }
  return { runtime, jobs, calls, dirs }
}

let runs = 0
interface Placed { id: string, job_id: string }

/** Submits a run of yaml and places its job on node. */
function place (store: ReturnType<typeof memoryStore>, yaml: string, node = ME): Placed {
  const id = `r${++runs}`
  const configuration = parseConfiguration(yaml) as RunConfiguration
  const specs = jobSpecsFor(configuration, {})
  const sub = `${id}-j0-s0`
  apply(store.state, {
    type: 'run.submit', at: Date.now(),
    run: { id, name: null, name_base: 'test-run', project: 'main', user: 'admin', priority: 0, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: specs.map((spec, i) => ({ id: `${id}-j${i}`, submission_id: `${id}-j${i}-s0`, spec }))
  })
  void store.propose({ type: 'job.assign', at: Date.now(), job_id: `${id}-j0`, submission_id: sub, placement: { instance: 'i1', node, hostname: 'host', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
  return { id: sub, job_id: `${id}-j0` }
}

const area = (): JobsArea => ({ dir: join(tmp, 'jobs'), user: null, note: 'runs as the test user' })

function agentOf (store: ReturnType<typeof memoryStore>, runtime: Runtime): Agent {
  return startAgent({ store, runtime, area: area(), node: ME, dataDir: join(tmp, 'data'), log: () => {}, stopGraceSeconds: 3 })
}

async function until (cond: () => boolean, what: string | (() => string)): Promise<void> {
  const end = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

const statusOf = (store: ReturnType<typeof memoryStore>, sub: Placed): JobSubmission => store.state.jobs[sub.job_id]!.submissions.find(s => s.id === sub.id)!

test('a job placed here starts, reports running with the note on what it can reach, and done on exit 0', async () => {
  const store = memoryStore()
  const { runtime, jobs } = fakeRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  const sub = place(store, 'type: task\ncommands: [echo hi]')
  await until(() => statusOf(store, sub).status === 'running', 'running')
  assert.is(statusOf(store, sub).limits_note, 'runs as the test user')
  const spec = jobs.get(sub.id)!.spec
  assert.is(spec.dir, join(area().dir, sub.id), 'the job dir is in the jobs area')
  assert.ok(spec.workingDir.startsWith(spec.dir))
  jobs.get(sub.id)!.end({ exitCode: 0 })
  await until(() => statusOf(store, sub).status === 'done', 'done')
  agent.close()
})

test('a job placed on another host is not this agent\'s', async () => {
  const store = memoryStore()
  const { runtime, calls } = fakeRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  const sub = place(store, 'type: task\ncommands: [echo hi]', 'node-other')
  await new Promise(r => setTimeout(r, 50))
  assert.equal(calls, [])
  assert.is(statusOf(store, sub).status, 'provisioning')
  agent.close()
})

test('the script goes through a file: 10,000 commands reach the runtime as [shell, FILE]', async () => {
  const store = memoryStore()
  const { runtime, jobs } = fakeRuntime()
  const agent = agentOf(store, runtime)
  const commands = Array.from({ length: 10_000 }, (_, i) => `echo line-${i}-${'x'.repeat(10)}`)
  const sub = place(store, `type: task\ncommands:\n${commands.map(c => `  - ${c}`).join('\n')}`)
  await until(() => jobs.has(sub.id), 'the start')
  const { command } = jobs.get(sub.id)!.spec
  assert.is(command.length, 2)
  assert.is(command[0], '/bin/bash')
  const script = fs.readFileSync(command[1]!, 'utf8')
  assert.ok(script.includes('echo line-0-') && script.includes('echo line-9999-'))
  assert.ok(command.every(a => a.length < 4096), 'nothing long in argv')
  agent.close()
})

test('a non-zero exit fails the job with a message that says what happened, not "container"', async () => {
  const store = memoryStore()
  const { runtime, jobs } = fakeRuntime()
  const agent = agentOf(store, runtime)
  const sub = place(store, 'type: task\ncommands: [exit 3]')
  await until(() => jobs.has(sub.id), 'the start')
  jobs.get(sub.id)!.end({ exitCode: 3 })
  await until(() => statusOf(store, sub).status === 'failed', 'failed')
  assert.is(statusOf(store, sub).exit_status, 3)
  assert.is(statusOf(store, sub).termination_reason_message, 'the command exited with status 3')
  agent.close()
})

test('a command the runtime could not start fails the job with the runtime\'s reason', async () => {
  const store = memoryStore()
  const { runtime } = fakeRuntime({ refuse: 'execvp: no such file' })
  const agent = agentOf(store, runtime)
  const sub = place(store, 'type: task\ncommands: [echo hi]')
  await until(() => statusOf(store, sub).status === 'failed', 'failed')
  assert.is(statusOf(store, sub).termination_reason, 'executor_error')
  assert.is(statusOf(store, sub).termination_reason_message, 'could not start: execvp: no such file')
  agent.close()
})

test('stop asks the runtime for a graceful stop with the grace; abort kills', async () => {
  const store = memoryStore()
  const { runtime, jobs, calls } = fakeRuntime()
  const agent = agentOf(store, runtime)
  const a = place(store, 'type: task\ncommands: [sleep 100]')
  const b = place(store, 'type: task\ncommands: [sleep 100]')
  await until(() => statusOf(store, a).status === 'running' && statusOf(store, b).status === 'running', 'both running')
  await store.propose({ type: 'run.stop', at: Date.now(), run_id: store.state.jobs[a.job_id]!.run_id, abort: false })
  await store.propose({ type: 'run.stop', at: Date.now(), run_id: store.state.jobs[b.job_id]!.run_id, abort: true })
  const statuses = () => [statusOf(store, a).status, statusOf(store, b).status].join(' ')
  await until(() => statuses() === 'terminated aborted', statuses)
  assert.ok(calls.includes(`stop ${a.id} 3000`), calls.join(', '))
  assert.ok(calls.includes(`kill ${b.id}`), calls.join(', '))
  assert.ok(jobs.has(a.id) && jobs.has(b.id))
  agent.close()
})

test('after a restart: a live job is re-adopted, not started again', async () => {
  const store = memoryStore()
  const sub = place(store, 'type: task\ncommands: [sleep 100]')
  await store.propose({ type: 'job.status', at: Date.now(), job_id: sub.job_id, submission_id: sub.id, status: 'running' })
  const { runtime, jobs, calls } = fakeRuntime({ found: { [sub.id]: { id: sub.id, pid: 1, startedAt: 1, limits: { applied: true } } } })
  const agent = agentOf(store, runtime)
  await agent.recovered
  assert.equal(calls, [`recover ${sub.id}`])
  jobs.get(sub.id)!.end({ exitCode: 0 })
  await until(() => statusOf(store, sub).status === 'done', 'done')
  agent.close()
})

test('after a restart: a job that ended meanwhile is reported with its exit', async () => {
  const store = memoryStore()
  const sub = place(store, 'type: task\ncommands: [exit 2]')
  await store.propose({ type: 'job.status', at: Date.now(), job_id: sub.job_id, submission_id: sub.id, status: 'running' })
  const { runtime } = fakeRuntime({ found: { [sub.id]: { exitCode: 2, signal: null, reason: 'exited', finishedAt: 5 } } })
  const agent = agentOf(store, runtime)
  await agent.recovered
  await until(() => statusOf(store, sub).status === 'failed', 'failed')
  assert.is(statusOf(store, sub).exit_status, 2)
  agent.close()
})

test('after a restart: a placed job the runtime never started is started once; a running one it does not know is lost', async () => {
  const store = memoryStore()
  const placed = place(store, 'type: task\ncommands: [echo hi]')
  const gone = place(store, 'type: task\ncommands: [sleep 100]')
  await store.propose({ type: 'job.status', at: Date.now(), job_id: gone.job_id, submission_id: gone.id, status: 'running' })
  const { runtime, calls } = fakeRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  await until(() => statusOf(store, placed).status === 'running' && statusOf(store, gone).status === 'failed', 'the start and the loss')
  assert.is(calls.filter(c => c === `start ${placed.id}`).length, 1)
  assert.not.ok(calls.includes(`start ${gone.id}`))
  assert.is(statusOf(store, gone).termination_reason, 'executor_error')
  assert.match(statusOf(store, gone).termination_reason_message ?? '', /not found on this host/)
  agent.close()
})

test('after a restart: an attempt given up as unreachable and retried elsewhere is found and killed, even when the state already has the retry', async () => {
  const store = memoryStore()
  const sub = place(store, 'type: task\ncommands: [sleep 100]\nretry: {on_events: [error]}')
  await store.propose({ type: 'job.status', at: Date.now(), job_id: sub.job_id, submission_id: sub.id, status: 'running' })
  // While this host was away: the attempt given up, the run retried on another host.
  await store.propose({ type: 'job.status', at: Date.now(), job_id: sub.job_id, submission_id: sub.id, status: 'failed', reason: 'instance_unreachable' })
  const runId = store.state.jobs[sub.job_id]!.run_id
  const retry = `${sub.job_id}-s1`
  await store.propose({ type: 'run.resubmit', at: Date.now(), run_id: runId, submissions: [{ job_id: sub.job_id, submission_id: retry }] })
  await store.propose({ type: 'job.assign', at: Date.now(), job_id: sub.job_id, submission_id: retry, placement: { instance: 'i2', node: 'node-other', hostname: 'other', address: '127.0.0.2', cpus: 1, memory: 1, gpus: 0 } })
  assert.is(store.state.jobs[sub.job_id]!.submissions.at(-1)!.id, retry)
  const { runtime, calls } = fakeRuntime({ found: { [sub.id]: { id: sub.id, pid: 1, startedAt: 1, limits: { applied: true } } } })
  const agent = agentOf(store, runtime)
  await agent.recovered
  await until(() => calls.includes(`kill ${sub.id}`), () => `a kill of the old attempt (calls: ${calls.join(', ')})`)
  assert.not.ok(calls.some(c => c.startsWith(`start `)))
  assert.is(statusOf(store, { id: retry, job_id: sub.job_id }).status, 'provisioning')
  agent.close()
})

test('after an upgrade: a job still in the data dir\'s old jobs/ is re-adopted from there', async () => {
  const store = memoryStore()
  const sub = place(store, 'type: task\ncommands: [sleep 100]')
  await store.propose({ type: 'job.status', at: Date.now(), job_id: sub.job_id, submission_id: sub.id, status: 'running' })
  const old = join(tmp, 'data', 'jobs', sub.id)
  fs.mkdirSync(old, { recursive: true })
  const { runtime, dirs } = fakeRuntime({ found: { [sub.id]: { id: sub.id, pid: 1, startedAt: 1, limits: { applied: true } } } })
  const agent = agentOf(store, runtime)
  await agent.recovered
  assert.is(dirs.get(sub.id), old)
  assert.is(statusOf(store, sub).status, 'running')
  agent.close()
})

test.run()
