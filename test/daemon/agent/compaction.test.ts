// The agent and compaction: a run compacted out of the history takes its job directory (the
// output log with it) off the host that ran it; a running job's directory is never touched.
// What a compaction missed while the daemon was down goes at the first one after a start.
// A real process runtime and a one-voter store on in-memory Raft storage and transport.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { startAgent } from '../../../daemon/agent/index.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { latest } from '../../../daemon/state/lifecycle.ts'
import { openStore } from '../../../daemon/state/store.ts'
import { memoryStorage } from '../../../mesh/raft/storage.ts'
import { memoryNetwork } from '../../../mesh/raft/transport.ts'
import { processRuntime } from '../../../drivers/runtime/index.ts'

const exists = (p: string) => stat(p).then(() => true, () => false)

async function waitFor (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

test('a compacted run\'s job directory is deleted, and what was missed while down; a running one\'s stays', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-agent-'))
  // Left by runs compacted while this host was down; and the code of a submission on its way.
  await mkdir(join(dir, 'jobs', 'missed-s'), { recursive: true })
  await mkdir(join(dir, 'code', 'missed'), { recursive: true })
  await utimes(join(dir, 'code', 'missed'), new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000))
  await mkdir(join(dir, 'code', 'arriving'), { recursive: true })
  const store = await openStore({ storage: memoryStorage(), transport: memoryNetwork().transport('n1'), bootstrap: true, tickMs: 10 })
  const agent = startAgent({ store, runtime: processRuntime({ rootDir: join(dir, 'jobs') }), area: { dir: join(dir, 'jobs'), user: null, note: null }, node: 'n1', dataDir: dir, log: () => {} })
  try {
    await agent.recovered
    const offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86' as const, cpus: 2, memory: 8, disk: 100, gpus: [] }
    await store.propose({ type: 'instance.register', at: 1, fleet: { id: 'f', name: 'local' }, instance: { id: 'n1', name: 'local-0', node: 'n1', hostname: 'h', address: '127.0.0.1', offer, warnings: [] } })
    const run = async (id: string, command: string) => {
      const configuration = parseConfiguration(`type: task\ncommands: ["${command}"]`) as RunConfiguration
      await store.propose({ type: 'run.submit', at: 2, run: { id, name: id, name_base: 'x', project: 'main', user: 'u', priority: 0, spec: { run_name: id, configuration, configuration_path: null, workflow: null } }, jobs: [{ id: `${id}-j`, submission_id: `${id}-s`, spec: jobSpecsFor(configuration, {})[0]! }] })
      await store.propose({ type: 'job.assign', at: 3, job_id: `${id}-j`, submission_id: `${id}-s`, placement: { instance: 'n1', node: 'n1', hostname: 'h', address: '127.0.0.1', cpus: 0, memory: 0, gpus: 0 } })
    }
    await run('short', 'echo hi')
    await run('long', 'sleep 30')
    await waitFor('short done', () => store.state.runs.short?.status === 'done')
    await waitFor('long running', () => latest(store.state.jobs['long-j']!).status === 'running')
    assert.ok(await exists(join(dir, 'jobs', 'short-s', 'output.log')), 'the finished job left its output')
    const res = await store.propose({ type: 'runs.compact', at: 4, run_ids: ['short', 'long'] })
    assert.equal(res.ok && res.compacted!.map(c => c.run.id), ['short'], 'only the finished run is compacted')
    await waitFor('short\'s directory deleted', async () => !await exists(join(dir, 'jobs', 'short-s')))
    assert.ok(await exists(join(dir, 'jobs', 'long-s')), 'the running job keeps its directory')
    await waitFor('what the host missed deleted', async () => !await exists(join(dir, 'jobs', 'missed-s')) && !await exists(join(dir, 'code', 'missed')))
    assert.ok(await exists(join(dir, 'code', 'arriving')), 'young code stays: its run may not be in the log yet')
    await store.propose({ type: 'run.stop', at: 5, run_id: 'long', abort: true })
    await waitFor('long ended', () => store.state.runs.long?.status === 'terminated')
  } finally {
    agent.close()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
