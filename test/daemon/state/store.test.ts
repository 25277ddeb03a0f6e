// The local log: what was acknowledged survives a restart, through snapshots and compaction.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../../daemon/state/store.ts'
import type { Command } from '../../../daemon/state/machine.ts'

const offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86' as const, cpus: 2, memory: 8, disk: 100, gpus: [] }

function register (i: number): Command {
  return { type: 'instance.register', at: i, fleet: { id: 'f', name: 'local' }, instance: { id: `i${i % 7}`, name: `local-${i % 7}`, node: `n${i % 7}`, hostname: 'h', address: '127.0.0.1', offer: { ...offer, cpus: i }, warnings: [] } }
}

test('reopening replays the log past the last snapshot: the same state, the same index', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-store-'))
  try {
    const a = await openStore(join(dir, 'db'))
    for (let i = 1; i <= 4500; i++) await a.propose(register(i)) // two snapshots and a tail
    const before = JSON.parse(JSON.stringify(a.state))
    await a.close()
    const b = await openStore(join(dir, 'db'))
    assert.is(b.state.index, 4500)
    assert.equal(b.state, before)
    assert.is(b.state.instances.i6!.offer.cpus, 4500, 'the last write to each instance is kept')
    await b.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('subscribers see every applied command in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-store-'))
  try {
    const s = await openStore(join(dir, 'db'))
    const seen: number[] = []
    s.subscribe(cmd => seen.push(cmd.at))
    await Promise.all([1, 2, 3, 4, 5].map(i => s.propose(register(i))))
    assert.equal(seen, [1, 2, 3, 4, 5])
    await s.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
