// The Raft core under the deterministic simulator (sim.ts): thousands of seeds, each a cluster
// of 3 or 5 voters (a third of them with a learner) driven through loss, duplication, reordering,
// partitions, pauses, crashes, compaction and membership changes, with Raft's safety properties
// checked after every call and liveness at the end.
//
//   node scripts/test.js raft/sim                         2,000 seeds × 800 steps
//   RAFT_SEEDS=20000 node scripts/test.js raft/sim        a larger sweep (RAFT_SEED_FROM to move it, RAFT_STEPS to lengthen runs)
//   RAFT_SEED=123 node scripts/test.js raft/sim           one seed, with every message in the failure trace
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { simulate, type SimOptions, type SimStats } from './sim.ts'

const STEPS = Number(process.env.RAFT_STEPS ?? 800)
const SEEDS = Number(process.env.RAFT_SEEDS ?? 2000)
const FROM = Number(process.env.RAFT_SEED_FROM ?? 1)
const ONE = process.env.RAFT_SEED

/** The cluster a seed runs: odd seeds 5 voters, even seeds 3; every third seed adds a learner. */
export function shapeOf (seed: number): Pick<SimOptions, 'voters' | 'learners'> {
  return { voters: seed % 2 === 1 ? 5 : 3, learners: seed % 3 === 0 ? 1 : 0 }
}

function sweep (seeds: number[]): SimStats {
  const total: SimStats = { steps: 0, leaders: 0, maxTerm: 0, committed: 0, crashes: 0, partitions: 0, snapshotsInstalled: 0, compactions: 0, membershipChanges: 0, leaderRemovals: 0, readsConfirmed: 0, delivered: 0, dropped: 0 }
  for (const seed of seeds) {
    const stats = simulate({ seed, steps: STEPS, ...shapeOf(seed) })
    for (const k of Object.keys(total) as Array<keyof SimStats>) total[k] += stats[k]
  }
  return total
}

function report (label: string, seeds: number, ms: number, s: SimStats): void {
  console.log(`  ${label}: ${seeds} seeds × ${STEPS} steps in ${(ms / 1000).toFixed(1)} s — ${s.leaders} leaders, ${s.committed} entries committed, ${s.crashes} crashes, ${s.partitions} partitions, ${s.snapshotsInstalled} snapshots installed, ${s.compactions} compactions, ${s.membershipChanges} membership changes (${s.leaderRemovals} leaders removed), ${s.readsConfirmed} reads confirmed, ${s.delivered} messages delivered, ${s.dropped} lost`)
}

test('a seed replays exactly: same faults, same elections, same commits', () => {
  const a = simulate({ seed: 4242, steps: 400, ...shapeOf(4242) })
  const b = simulate({ seed: 4242, steps: 400, ...shapeOf(4242) })
  assert.equal(a, b)
  assert.ok(a.committed > 0)
})

if (ONE !== undefined) {
  test(`seed ${ONE}`, () => {
    const seed = Number(ONE)
    const stats = simulate({ seed, steps: STEPS, ...shapeOf(seed), verbose: true })
    console.log(`  seed ${seed}:`, stats)
  })
} else {
  for (const voters of [3, 5]) {
    const seeds = Array.from({ length: SEEDS }, (_, k) => FROM + k).filter(s => shapeOf(s).voters === voters)
    test(`${voters} voters: safety at every step and liveness after healing, ${seeds.length} seeds`, () => {
      const start = performance.now()
      const s = sweep(seeds)
      report(`${voters} voters`, seeds.length, performance.now() - start, s)
      // The sweep must actually have exercised what it claims to.
      if (seeds.length >= 500) {
        assert.ok(s.snapshotsInstalled > 100, 'snapshots installed')
        assert.ok(s.leaderRemovals > 10, 'leaders removed')
        assert.ok(s.membershipChanges > 300, 'membership changes')
        assert.ok(s.readsConfirmed > 1000, 'reads confirmed')
        assert.ok(s.crashes > 1000, 'crashes')
      }
    })
  }
}

test.run()
