// The replicated store: what was acknowledged survives a restart, through snapshots and
// compaction; subscribers see commands in order; a scheduler's plan from another term is fenced
// off; followers forward writes and end with the leader's state, through an installed snapshot
// too; a minority cannot write. Raft runs over in-memory storage and transport here
// (mesh/raft/storage.ts, transport.ts), except one test that pins LevelDB and the real mesh.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMesh } from '../../../mesh/index.ts'
import { levelStorage, memoryStorage, type MemoryStorage } from '../../../mesh/raft/storage.ts'
import { meshTransport, memoryNetwork, type MemoryNetwork } from '../../../mesh/raft/transport.ts'
import { activeRuns } from '../../../daemon/state/active.ts'
import { openStore, StoreError, type ReplicatedStore } from '../../../daemon/state/store.ts'
import type { Command } from '../../../daemon/state/machine.ts'

const offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86' as const, cpus: 2, memory: 8, disk: 100, gpus: [] }

function register (i: number): Command {
  return { type: 'instance.register', at: i, fleet: { id: 'f', name: 'local' }, instance: { id: `i${i % 7}`, name: `local-${i % 7}`, node: `n${i % 7}`, hostname: 'h', address: '127.0.0.1', offer: { ...offer, cpus: i }, warnings: [] } }
}

const FAST = { tickMs: 10, electionTicks: 5, proposeTimeoutMs: 3000 }

async function one (storage: MemoryStorage, snapshotEvery?: number): Promise<ReplicatedStore> {
  return await openStore({ storage, transport: memoryNetwork().transport('a'), bootstrap: true, snapshotEvery, ...FAST })
}

async function waitFor (what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Three stores on one network: `a` founds the cluster and adds the others as voters. */
async function cluster (snapshotEvery?: number): Promise<{ net: MemoryNetwork, stores: Record<string, ReplicatedStore>, close (): Promise<void> }> {
  const net = memoryNetwork()
  const stores: Record<string, ReplicatedStore> = {}
  for (const id of ['a', 'b', 'c']) stores[id] = await openStore({ storage: memoryStorage(), transport: net.transport(id), bootstrap: id === 'a', snapshotEvery, ...FAST })
  for (const id of ['b', 'c']) {
    await stores.a!.raft.changeMembership({ type: 'addLearner', node: id })
    await waitFor(`${id} caught up`, () => (stores.a!.raft.progress()[id]?.match ?? 0) >= stores.a!.raft.status().commit)
    await stores.a!.raft.changeMembership({ type: 'addVoter', node: id })
  }
  return { net, stores, async close () { for (const s of Object.values(stores)) await s.close() } }
}

test('reopening restores the snapshot and replays the log after it: the same state', async () => {
  const storage = memoryStorage()
  const a = await one(storage, 200)
  for (let i = 1; i <= 1000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => a.propose(register(i + k))))
  const before = JSON.parse(JSON.stringify(a.state))
  await a.close()
  assert.ok(storage.saved.snapshot, 'a snapshot was stored')
  assert.ok(storage.saved.entries.every(e => e.index > storage.saved.snapshot!.index), 'the log after it only')
  const b = await one(storage, 200)
  assert.equal(b.state, before)
  assert.is(b.state.instances.i6!.offer.cpus, 1000, 'the last write to each instance is kept')
  await b.close()
})

test('subscribers see every applied command in order; results come back to the proposer', async () => {
  const s = await one(memoryStorage())
  const seen: number[] = []
  s.subscribe(cmd => { if (cmd) seen.push(cmd.at) })
  const results = await Promise.all([1, 2, 3, 4, 5].map(i => s.propose(register(i))))
  assert.equal(seen, [1, 2, 3, 4, 5])
  assert.ok(results.every(r => r.ok))
  await s.close()
})

test('a command planned in another term is fenced: refused, the state unchanged', async () => {
  const s = await one(memoryStorage())
  const term = s.raft.status().term
  const stale = await s.propose({ ...register(1), term: term - 1 } as Command)
  assert.is(stale.ok, false)
  assert.is(!stale.ok && stale.code, 'fenced')
  assert.is(s.state.instances.i1, undefined)
  const fresh = await s.propose({ ...register(1), term } as Command)
  assert.ok(fresh.ok)
  assert.ok(s.state.instances.i1)
  await s.close()
})

test('a follower forwards writes to the leader; every member ends with the same state', async () => {
  const c = await cluster()
  const results = await Promise.all([1, 2, 3].map(i => c.stores.b!.propose(register(i))))
  assert.ok(results.every(r => r.ok))
  await waitFor('all applied', () => Object.values(c.stores).every(s => s.state.index === c.stores.a!.state.index))
  assert.equal(c.stores.c!.state, c.stores.a!.state)
  assert.is(Object.keys(c.stores.c!.state.instances).length, 3)
  await c.close()
})

test('a member cut off from the others cannot write: unavailable, and nothing changes', async () => {
  const c = await cluster()
  c.net.isolate('c', true)
  const err = await c.stores.c!.propose(register(1)).then(() => null, e => e as StoreError)
  assert.instance(err, StoreError)
  assert.ok(err!.code === 'unavailable' || err!.code === 'timeout', err!.message)
  assert.is(c.stores.c!.state.instances.i1, undefined)
  c.net.isolate('c', false)
  await c.close()
})

test('a member that fell behind a compaction gets the snapshot and ends equal, indexes and all', async () => {
  const c = await cluster(50)
  c.net.isolate('c', true)
  const submit = (i: number): Command => ({
    type: 'run.submit', at: i, run: { id: `r${i}`, name: null, name_base: 'task', project: 'main', user: 'u', priority: 0, spec: { run_name: '', configuration: {} as never, configuration_path: null, workflow: null } }, jobs: []
  })
  for (let i = 0; i < 200; i++) await c.stores.a!.propose(i % 2 === 0 ? register(i) : submit(i))
  c.net.isolate('c', false)
  let restored = false
  c.stores.c!.subscribe(cmd => { if (cmd === null) restored = true })
  await waitFor('c caught up', () => c.stores.c!.state.index === c.stores.a!.state.index)
  assert.ok(restored, 'c was given a snapshot')
  assert.equal(c.stores.c!.state, c.stores.a!.state)
  assert.equal(activeRuns(c.stores.c!.state).map(r => r.id), activeRuns(c.stores.a!.state).map(r => r.id))
  await c.close()
})

test('over LevelDB and the real mesh: a reopened store has every acknowledged write', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-store-'))
  try {
    const open = async () => {
      const mesh = await createMesh({ dataDir: join(dir, 'mesh'), listen: ['/ip4/127.0.0.1/tcp/0'] })
      const store = await openStore({ storage: await levelStorage(join(dir, 'raft'), { sync: false }), transport: meshTransport(mesh, { messageTimeoutMs: 1000 }), bootstrap: true, snapshotEvery: 500 })
      return { store, async close () { await store.close(); await mesh.stop() } }
    }
    const a = await open()
    for (let i = 1; i <= 1200; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => a.store.propose(register(i + k))))
    const before = JSON.parse(JSON.stringify(a.store.state))
    await a.close()
    const b = await open()
    assert.equal(b.store.state, before)
    await b.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
