// The replicated store on a one-voter mesh: what was acknowledged survives a restart, through
// snapshots and compaction; subscribers see commands in order; a scheduler's plan from another
// term is fenced off.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMesh } from '../../../mesh/index.ts'
import { openStore } from '../../../daemon/state/store.ts'
import type { Command } from '../../../daemon/state/machine.ts'

const offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86' as const, cpus: 2, memory: 8, disk: 100, gpus: [] }

function register (i: number): Command {
  return { type: 'instance.register', at: i, fleet: { id: 'f', name: 'local' }, instance: { id: `i${i % 7}`, name: `local-${i % 7}`, node: `n${i % 7}`, hostname: 'h', address: '127.0.0.1', offer: { ...offer, cpus: i }, warnings: [] } }
}

let dir: string
test.before.each(async () => { dir = await mkdtemp(join(tmpdir(), 'dstackd-store-')) })
test.after.each(async () => { await rm(dir, { recursive: true, force: true }) })

async function open (snapshotEvery?: number) {
  const mesh = await createMesh({ dataDir: join(dir, 'mesh'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const store = await openStore({ mesh, dbPath: join(dir, 'raft'), bootstrap: true, sync: false, snapshotEvery })
  return { store, async close () { await store.close(); await mesh.stop() } }
}

test('reopening restores the snapshot and replays the log after it: the same state', async () => {
  const a = await open(2000)
  for (let i = 1; i <= 4500; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => a.store.propose(register(i + k))))
  const before = JSON.parse(JSON.stringify(a.store.state))
  await a.close()
  const b = await open(2000)
  assert.equal(b.store.state, before)
  assert.is(b.store.state.instances.i6!.offer.cpus, 4500, 'the last write to each instance is kept')
  await b.close()
})

test('subscribers see every applied command in order; results come back to the proposer', async () => {
  const s = await open()
  const seen: number[] = []
  s.store.subscribe(cmd => { if (cmd) seen.push(cmd.at) })
  const results = await Promise.all([1, 2, 3, 4, 5].map(i => s.store.propose(register(i))))
  assert.equal(seen, [1, 2, 3, 4, 5])
  assert.ok(results.every(r => r.ok))
  await s.close()
})

test('a command planned in another term is fenced: refused, the state unchanged', async () => {
  const s = await open()
  const term = s.store.raft.status().term
  const stale = await s.store.propose({ ...register(1), term: term - 1 } as Command)
  assert.is(stale.ok, false)
  assert.is(!stale.ok && stale.code, 'fenced')
  assert.is(s.store.state.instances.i1, undefined)
  const fresh = await s.store.propose({ ...register(1), term } as Command)
  assert.ok(fresh.ok)
  assert.ok(s.store.state.instances.i1)
  await s.close()
})

test.run()
