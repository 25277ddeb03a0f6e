// A job whose start pulls an image, through the agent and a real store (Raft in memory): it
// shows `pulling` with the runtime's progress text, then runs; stopped while pulling, it is
// stopped once it starts; after a restart mid-pull it is started again, not reported lost.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { runView } from '../../../daemon/api/views.ts'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { startAgent } from '../../../daemon/agent/index.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { openStore, type ReplicatedStore } from '../../../daemon/state/store.ts'
import type { JobSubmission } from '../../../daemon/state/types.ts'
import type { JobExit, JobInfo, Runtime, StartHooks } from '../../../drivers/runtime/index.ts'
import { memoryStorage } from '../../../mesh/raft/storage.ts'
import { memoryNetwork } from '../../../mesh/raft/transport.ts'

const ME = 'node-me'
const tmp = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-pulling-test-'))
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

const FAST = { tickMs: 10, electionTicks: 5 }
const openOne = () => openStore({ storage: memoryStorage(), transport: memoryNetwork().transport(ME), bootstrap: true, ...FAST })

/** A runtime whose start "pulls": it reports progress through the hook until the test lets it run. */
function pullingRuntime () {
  const calls: string[] = []
  const hooks = new Map<string, StartHooks | undefined>()
  const gates = new Map<string, () => void>()
  const exits = new Map<string, (e: JobExit) => void>()
  const waits = new Map<string, Promise<JobExit>>()
  const runtime: Runtime = {
    name: 'pulling',
    async start (spec, h) {
      calls.push(`start ${spec.id}`)
      hooks.set(spec.id, h)
      h?.progress?.('0/0/≥45MB')
      await new Promise<void>(resolve => gates.set(spec.id, resolve))
      waits.set(spec.id, new Promise(resolve => exits.set(spec.id, resolve)))
      return { id: spec.id, pid: 1, startedAt: Date.now(), limits: { applied: true } } satisfies JobInfo
    },
    async recover () { return null },
    wait (id) { return waits.get(id) ?? Promise.reject(new Error(`unknown job ${id}`)) },
    async stop (id) { calls.push(`stop ${id}`); exits.get(id)?.({ exitCode: 130, signal: null, reason: 'stopped', finishedAt: Date.now() }) },
    async kill (id) { calls.push(`kill ${id}`); exits.get(id)?.({ exitCode: null, signal: 'SIGKILL', reason: 'killed', finishedAt: Date.now() }) },
    async * logs () {},
    async stats () { return null }
  }
  return { runtime, calls, hooks, run: (id: string) => gates.get(id)!(), end: (id: string) => exits.get(id)!({ exitCode: 0, signal: null, reason: 'exited', finishedAt: Date.now() }) }
}

let runs = 0
async function place (store: ReplicatedStore): Promise<{ run: string, job: string, sub: string }> {
  const run = `r${++runs}`
  const configuration = parseConfiguration('type: task\nimage: ghcr.io/org/app:1\ncommands: [echo hi]') as RunConfiguration
  const [spec] = jobSpecsFor(configuration, {})
  await store.propose({
    type: 'run.submit', at: Date.now(),
    run: { id: run, name: null, name_base: 'pull', project: 'main', user: 'admin', priority: 0, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: [{ id: `${run}-j0`, submission_id: `${run}-s0`, spec: spec! }]
  })
  await store.propose({ type: 'job.assign', at: Date.now(), job_id: `${run}-j0`, submission_id: `${run}-s0`, placement: { instance: 'i1', node: ME, hostname: 'host', address: '127.0.0.1', cpus: 1, memory: 1, gpus: 0 } })
  return { run, job: `${run}-j0`, sub: `${run}-s0` }
}

const agentOf = (store: ReplicatedStore, runtime: Runtime) => startAgent({ store, runtime, area: { dir: join(tmp, 'jobs'), user: null, note: 'test' }, node: ME, dataDir: join(tmp, 'data'), log: () => {}, stopGraceSeconds: 1 })
const subOf = (store: ReplicatedStore, p: { job: string }): JobSubmission => store.state.jobs[p.job]!.submissions.at(-1)!
const statusText = (store: ReplicatedStore, p: { run: string }) => runView(store.state, store.state.runs[p.run]!).status_text

async function until (cond: () => boolean, what: () => string): Promise<void> {
  const end = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting; now ${what()}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

test('pulling: the runtime\'s progress shows in ps, then the job runs with the progress gone', async () => {
  const store = await openOne()
  const { runtime, hooks, run, end } = pullingRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  const p = await place(store)
  await until(() => statusText(store, p) === 'pulling 0/0/≥45MB', () => statusText(store, p))
  assert.is(subOf(store, p).status, 'pulling')
  assert.is(store.state.runs[p.run]!.status, 'provisioning')
  // Many updates at once: the log gets at most one a second, the last one wins when it goes.
  for (let i = 1; i <= 30; i++) hooks.get(p.sub)!.progress!(`${i}/${i + 1}/45MB`)
  run(p.sub)
  await until(() => subOf(store, p).status === 'running', () => subOf(store, p).status)
  assert.is(subOf(store, p).progress, null)
  assert.is(statusText(store, p), 'running')
  hooks.get(p.sub)!.progress!('45/45/45MB')
  end(p.sub)
  await until(() => subOf(store, p).status === 'done', () => subOf(store, p).status)
  assert.is(statusText(store, p), 'exited (0)')
  const events = store.state.events.filter(e => e.run === store.state.runs[p.run]!.name && e.kind === 'job.status').map(e => e.message.split(' ')[2])
  assert.equal(events, ['pulling', 'running', 'done'], 'progress updates are not events')
  agent.close()
  await store.close()
})

test('stopped while pulling: once the start returns the job is stopped, and ends stopped', async () => {
  const store = await openOne()
  const { runtime, calls, run } = pullingRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  const p = await place(store)
  await until(() => subOf(store, p).status === 'pulling', () => subOf(store, p).status)
  await store.propose({ type: 'run.stop', at: Date.now(), run_id: p.run, abort: false })
  assert.is(subOf(store, p).status, 'terminating')
  run(p.sub)
  await until(() => subOf(store, p).status === 'terminated', () => subOf(store, p).status)
  assert.ok(calls.includes(`stop ${p.sub}`), calls.join(', '))
  assert.is(statusText(store, p), 'stopped')
  agent.close()
  await store.close()
})

test('a restart in the middle of a pull starts the job again (once), it is not lost', async () => {
  const store = await openOne()
  const p = await place(store)
  await store.propose({ type: 'job.status', at: Date.now(), job_id: p.job, submission_id: p.sub, status: 'pulling', progress: '3/9/45MB' })
  const { runtime, calls, run } = pullingRuntime()
  const agent = agentOf(store, runtime)
  await agent.recovered
  await until(() => calls.includes(`start ${p.sub}`), () => calls.join(', '))
  run(p.sub)
  await until(() => subOf(store, p).status === 'running', () => subOf(store, p).status)
  assert.is(calls.filter(c => c === `start ${p.sub}`).length, 1)
  agent.close()
  await store.close()
})

test.run()
