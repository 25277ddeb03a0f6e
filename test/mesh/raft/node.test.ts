// startRaftNode on real libp2p nodes on 127.0.0.1 (port 0, temp data dirs), in this process:
// election, proposals from a follower and from the leader, leader failover, a restarted node
// catching up from its own store plus the leader's snapshot, and the no-leader error.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMesh, type Mesh } from '../../../mesh/index.ts'
import { startRaftNode, RaftNodeError, type RaftNode } from '../../../mesh/raft/node.ts'
import { levelStorage } from '../../../mesh/raft/storage.ts'
import { meshTransport } from '../../../mesh/raft/transport.ts'
import { waitFor } from '../../poll.ts'

const TICK_MS = 50
const ELECTION_TICKS = 10
const COMPACT_EVERY = 5

interface Member {
  name: string
  dir: string
  port: number
  mesh: Mesh
  node: RaftNode
  /** The state machine of this incarnation: data of applied entries, in order. */
  items: string[]
  lastIndex: number
  /** apply calls of this incarnation with an index not after the previous one (must stay empty). */
  problems: string[]
  /** restore calls of this incarnation (its own snapshot at start, or one sent by the leader). */
  restores: number
  up: boolean
}

const dirs: string[] = []
const members: Member[] = []
const numbers: Record<string, string> = {}

function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'dstack-raftnode-'))
  dirs.push(d)
  return d
}

async function startMesh (dir: string, port: number, join?: string): Promise<Mesh> {
  return await createMesh({
    dataDir: dir,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    join,
    reconnectMinDelayMs: 100,
    reconnectMaxDelayMs: 500,
    dialTimeoutMs: 2000
  })
}

async function startNode (m: Omit<Member, 'node' | 'items' | 'lastIndex' | 'problems' | 'restores' | 'up'> & Partial<Member>, voters: string[]): Promise<Member> {
  const member = m as Member
  member.items = []
  member.lastIndex = 0
  member.problems = []
  member.restores = 0
  member.node = await startRaftNode({
    storage: await levelStorage(join(m.dir, 'raft')),
    transport: meshTransport(m.mesh, { messageTimeoutMs: 1000 }),
    voters,
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    compactEvery: COMPACT_EVERY,
    proposeTimeoutMs: 8000,
    apply: e => {
      if (e.index <= member.lastIndex) member.problems.push(`applied ${e.index} after ${member.lastIndex}`)
      member.lastIndex = e.index
      member.items.push(e.data as string)
    },
    snapshot: () => ({ items: [...member.items], lastIndex: member.lastIndex }),
    restore: data => {
      const d = data as { items: string[], lastIndex: number }
      member.restores++
      member.items = [...d.items]
      member.lastIndex = d.lastIndex
    }
  })
  member.up = true
  return member
}

async function stopMember (m: Member): Promise<void> {
  if (!m.up) return
  m.up = false
  await m.mesh.stop()
  await m.node.close()
}

const portOf = (mesh: Mesh): number => Number(/\/tcp\/(\d+)/.exec(mesh.addresses()[0]!)![1])
const live = (): Member[] => members.filter(m => m.up)
const byId = (id: string | null): Member | undefined => members.find(m => m.mesh.peerId === id)

/** The leader every live member agrees on, once there is one. */
async function agreedLeader (what: string): Promise<Member> {
  let leader: Member | undefined
  await waitFor(() => {
    const ls = live().map(m => m.node.leader())
    leader = byId(ls[0] ?? null)
    return leader !== undefined && leader.up && ls.every(l => l === ls[0]) && leader.node.status().role === 'leader'
  }, { what, timeout: 10_000 })
  return leader!
}

/** Waits until every live member applied `expected`, then checks they hold exactly it. */
async function converged (expected: string[]): Promise<void> {
  await waitFor(() => live().every(m => m.items.length >= expected.length), { what: `every live member to apply ${expected.length} items`, timeout: 10_000 })
  for (const m of live()) {
    assert.equal(m.items, expected, `${m.name}'s state machine`)
    assert.equal(m.problems, [], `${m.name} applied out of order`)
  }
}

test.after(async () => {
  for (const m of members) await stopMember(m).catch(() => {})
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  console.log('\nraft node measurements (loopback, in-process, tick 50 ms, election timeout 500–1000 ms):')
  for (const [k, v] of Object.entries(numbers)) console.log(`  ${k}: ${v}`)
})

/** Proposed so far, in the order the cluster applied them. */
let expected: string[] = []

test('three nodes on a mesh elect a leader', async () => {
  const aDir = tempDir()
  const aMesh = await startMesh(aDir, 0)
  const bDir = tempDir()
  const bMesh = await startMesh(bDir, 0, aMesh.joinToken())
  const cDir = tempDir()
  const cMesh = await startMesh(cDir, 0, aMesh.joinToken())
  await waitFor(() => [aMesh, bMesh, cMesh].every(m => m.peers().length === 2), { what: 'a full mesh', timeout: 10_000 })
  const voters = [aMesh.peerId, bMesh.peerId, cMesh.peerId]
  const t0 = performance.now()
  for (const [name, dir, mesh] of [['a', aDir, aMesh], ['b', bDir, bMesh], ['c', cDir, cMesh]] as const) {
    members.push(await startNode({ name, dir, mesh, port: portOf(mesh) }, voters))
  }
  const leader = await agreedLeader('a first leader')
  numbers['start → leader agreed by all three'] = `${(performance.now() - t0).toFixed(0)} ms`
  assert.ok(voters.includes(leader.mesh.peerId))
  for (const m of members) assert.equal([...m.node.status().voters].sort(), [...voters].sort())
})

test('proposals on a follower and on the leader are applied on all three in the same order', async () => {
  const leader = await agreedLeader('the leader')
  const follower = members.find(m => m !== leader)!
  const t0 = performance.now()
  const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const f = await follower.node.propose(`f${i}`)
    // resolved: applied on the proposer itself
    assert.ok(follower.items.includes(`f${i}`), `f${i} applied on the follower when its propose resolved`)
    const l = await leader.node.propose(`l${i}`)
    assert.ok(leader.items.includes(`l${i}`), `l${i} applied on the leader when its propose resolved`)
    return [f, l]
  }))
  numbers['20 proposals (10 forwarded), applied'] = `${(performance.now() - t0).toFixed(0)} ms`
  const indexes = results.flat().map(r => r.index)
  assert.is(new Set(indexes).size, 20, 'every proposal got its own index')
  expected = [...leader.items]
  assert.is(expected.length, 20)
  assert.equal([...expected].sort(), [...Array.from({ length: 10 }, (_, i) => `f${i}`), ...Array.from({ length: 10 }, (_, i) => `l${i}`)].sort())
  await converged(expected)
  // the log was compacted along the way (every 5 applied entries)
  await waitFor(() => leader.node.status().snapshotIndex > 0, { what: 'a compaction on the leader', timeout: 10_000 })
})

let stopped: Member
test('the leader stops: the other two elect a new leader and keep committing', async () => {
  stopped = await agreedLeader('the leader')
  const oldTerm = stopped.node.status().term
  const t0 = performance.now()
  await stopMember(stopped)
  const leader = await agreedLeader('a new leader among the other two')
  numbers['leader stopped → new leader agreed by both survivors'] = `${(performance.now() - t0).toFixed(0)} ms`
  assert.is.not(leader, stopped)
  assert.ok(leader.node.status().term > oldTerm)
  const follower = live().find(m => m !== leader)!
  for (let i = 0; i < 6; i++) {
    await follower.node.propose(`after-f${i}`)
    await leader.node.propose(`after-l${i}`)
  }
  expected = [...leader.items]
  assert.is(expected.length, 32)
  await converged(expected)
})

test('the stopped node restarts from its data dir and store, catches up, applies everything once, in order', async () => {
  const leaderSnapshot = live()[0]!.node.status().snapshotIndex
  const t0 = performance.now()
  const mesh = await startMesh(stopped.dir, stopped.port)
  const restarted = await startNode({ name: `${stopped.name}′`, dir: stopped.dir, port: stopped.port, mesh }, [])
  members.splice(members.indexOf(stopped), 1, restarted)
  // it came back with what it had stored: a snapshot and a log (its own compaction ran)
  assert.ok(restarted.node.status().lastIndex >= 20, `restored log up to ${restarted.node.status().lastIndex}`)
  assert.is(restarted.node.status().voters.length, 3, 'membership from its own store')
  assert.is(restarted.restores, 1, 'its own snapshot restored at start')
  const storedLast = restarted.node.status().lastIndex
  await converged(expected)
  numbers['restart → caught up (mesh start included)'] = `${(performance.now() - t0).toFixed(0)} ms`
  // the survivors compacted past what it had stored: it caught up through the leader's snapshot
  if (leaderSnapshot > storedLast) assert.ok(restarted.restores >= 2, 'restored from the leader\'s snapshot')
  numbers['restarted node: stored log ended at / survivors\' snapshot at'] = `${storedLast} / ${leaderSnapshot}`
  // and it takes part: a proposal on it (a follower now) reaches everyone
  await agreedLeader('a leader known to all three')
  const { index } = await restarted.node.propose('from-restarted')
  assert.ok(index > 0)
  expected = [...expected, 'from-restarted']
  await converged(expected)
  const counts = new Map<string, number>()
  for (const x of restarted.items) counts.set(x, (counts.get(x) ?? 0) + 1)
  assert.ok([...counts.values()].every(n => n === 1), 'no entry applied twice')
})

test('with no quorum left, propose fails with no_leader after its timeout', async () => {
  const [keep, ...rest] = live()
  for (const m of rest) await stopMember(m)
  await waitFor(() => keep!.node.leader() === null, { what: 'the lone node to know no leader', timeout: 10_000 })
  try {
    await keep!.node.propose('lost', { timeoutMs: 300 })
    assert.unreachable('propose should fail')
  } catch (err) {
    assert.instance(err, RaftNodeError)
    assert.is((err as RaftNodeError).code, 'no_leader')
    assert.match((err as Error).message, /no Raft leader/)
  }
  await stopMember(keep!)
})

test.run()
