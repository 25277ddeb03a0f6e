// The Raft core, one rule at a time, on a synchronous in-memory network: elections with PreVote
// and CheckQuorum, replication and its repair, the Figure 8 commit rule, snapshots, restarts,
// learners, membership changes, ReadIndex, and the API's answers.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createRaft, entryBytes, messageProblem, RaftError, seededRandom, type Entry, type Message } from '../../../mesh/raft/index.ts'
import type { Disk } from './host.ts'
import { Net } from './net.ts'

function e (index: number, term: number): Entry {
  return { index, term, type: 'normal', data: `${index}@${term}` }
}

/** Entries at `indexes` (inclusive range) all of term `term`. */
function run (from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => e(from + k, term))
}

function disk (term: number, entries: Entry[], vote: string | null = null, commit = 0): Disk {
  return { hardState: { term, vote, commit }, snapshot: undefined, entries }
}

const isVote = (m: Message) => m.type === 'vote' || m.type === 'prevote'

// ---- elections ---------------------------------------------------------------------------

test('election: a single voter elects itself after its election timeout and commits a no-op', () => {
  const net = new Net(['a'])
  net.tick(19)
  const s = net.host('a').r.status()
  assert.is(s.role, 'leader')
  assert.is(s.term, 1)
  assert.is(s.commit, 1)
})

test('election: three voters agree on one leader, which appends a no-op of its term', () => {
  const net = new Net(['a', 'b', 'c'])
  net.tick(30)
  const leader = net.leader()!
  assert.ok(leader)
  for (const h of net.hosts.values()) {
    const s = h.r.status()
    assert.is(s.leader, leader.id)
    assert.is(s.term, leader.r.status().term)
    assert.is(s.commit, 1)
    assert.is(h.disk.entries[0]!.type, 'noop')
  }
})

test('prevote: a node cut off and back does not disrupt the leader — its term never goes up', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('c')
  net.tick(100)
  assert.is(net.host('c').r.status().term, 1, 'prevotes that fail do not raise the term')
  assert.ok(net.delivered.length > 0)
  net.heal()
  net.tick(30)
  assert.is(net.leader()!.id, 'a')
  for (const h of net.hosts.values()) assert.is(h.r.status().term, 1)
})

test('prevote: without it, the same node comes back with a higher term and deposes the leader', () => {
  const net = new Net(['a', 'b', 'c'], { preVote: false, checkQuorum: false })
  net.elect('a')
  net.isolate('c')
  net.tick(100)
  assert.ok(net.host('c').r.status().term > 5)
  net.heal()
  net.tick(30)
  assert.ok(net.leader()!.r.status().term > 1, 'the cluster had to hold a new election')
})

test('prevote: a node whose log is behind cannot win a prevote, so nobody changes term', () => {
  const net = new Net(['a', 'b', 'c'], {
    disks: { a: disk(2, run(1, 5, 2)), b: disk(2, run(1, 5, 2)), c: disk(2, run(1, 3, 1)) }
  })
  net.elect('c')
  for (const h of net.hosts.values()) assert.is(h.r.status().term, 2)
  assert.not.equal(net.host('c').r.status().role, 'leader')
})

test('leader stickiness: a follower that hears from its leader ignores a vote request of a higher term', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const b = net.host('b')
  b.r.step({ type: 'vote', from: 'c', to: 'b', term: 9, lastIndex: 100, lastTerm: 9 })
  assert.is(b.r.status().term, 1)
  assert.equal(b.r.ready().messages, [])
})

test('checkquorum: a leader cut off from every voter steps down within two election timeouts, in its own term', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('a')
  net.tick(20, ['a'])
  const s = net.host('a').r.status()
  assert.is(s.role, 'follower')
  assert.is(s.term, 1)
  assert.is(s.leader, null)
})

test('checkquorum: the majority side elects a new leader while the old one steps down', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('a')
  net.tick(40)
  const leader = net.leader()!
  assert.ok(leader.id === 'b' || leader.id === 'c')
  assert.is(leader.r.status().term, 2)
  assert.is.not(net.host('a').r.status().role, 'leader')
  assert.is(net.host('a').r.status().term, 1, 'its failed prevotes did not raise its term')
  net.heal()
  net.tick(5)
  assert.is(net.host('a').r.status().leader, leader.id)
})

// ---- replication -------------------------------------------------------------------------

test('replication: proposals on the leader are applied everywhere, in order', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  for (let i = 0; i < 20; i++) assert.ok(net.host('a').r.propose(`x${i}`).ok)
  net.flush()
  for (const h of net.hosts.values()) {
    assert.equal(h.appliedData, Array.from({ length: 20 }, (_, i) => `x${i}`))
    assert.is(h.machine.hash, net.host('a').machine.hash)
  }
})

test('replication: a proposal on a follower says who the leader is', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  assert.equal(net.host('b').r.propose('x'), { ok: false, reason: 'not_leader', leader: 'a' })
  const fresh = createRaft({ id: 'z', voters: ['z', 'y'], random: seededRandom(1) })
  assert.equal(fresh.propose('x'), { ok: false, reason: 'not_leader', leader: null })
})

test('replication: bytes, strings and objects go through the log as JSON', () => {
  const net = new Net(['a', 'b'])
  net.elect('a')
  net.host('a').r.propose(new Uint8Array([0, 1, 254, 255]))
  net.host('a').r.propose({ run: 'r1', n: 2 })
  net.flush()
  const stored = net.host('b').disk.entries.slice(1)
  assert.equal(Array.from(entryBytes(stored[0]!)!), [0, 1, 254, 255])
  assert.equal(stored[1]!.data, { run: 'r1', n: 2 })
  assert.is(entryBytes(stored[1]!), undefined)
})

test('replication: a follower with a long stale tail is repaired in a couple of round trips', () => {
  // b holds 100 entries of term 2 that no one else has; a leads term 3 with its own.
  const net = new Net(['a', 'b', 'c'], {
    disks: { a: disk(3, [e(1, 1), ...run(2, 51, 3)]), b: disk(2, [e(1, 1), ...run(2, 101, 2)]), c: disk(3, [e(1, 1), ...run(2, 51, 3)]) }
  })
  net.elect('a')
  const rejections = net.delivered.filter(m => m.type === 'appendResponse' && m.from === 'b' && m.reject)
  assert.ok(rejections.length <= 2, `${rejections.length} rejections`)
  const b = net.host('b').r
  assert.is(b.status().lastIndex, 52)
  assert.is(b.termAt(51), 3)
  assert.is(b.status().commit, 52)
})

test('figure 8: an entry of an old term on a majority is not committed by counting, and may be overwritten', () => {
  // s5 led term 3 and appended 2@3 alone; s1 led term 2 and got 2@2 to s2 only.
  const net = new Net(['s1', 's2', 's3', 's4', 's5'], {
    maxEntriesPerMessage: 1,
    disks: {
      s1: disk(3, [e(1, 1), e(2, 2)], null, 1),
      s2: disk(2, [e(1, 1), e(2, 2)], null, 1),
      s3: disk(3, [e(1, 1)], 's5', 1),
      s4: disk(3, [e(1, 1)], 's5', 1),
      s5: disk(3, [e(1, 1), e(2, 3)], 's5', 1)
    }
  })
  // s1 wins term 4 and copies 2@2 to s3 and s4, but its own no-op (3@4) reaches no one.
  net.drop = m => m.type === 'append' && m.entries.some(x => x.term === 4) && net.host(m.to).r.status().lastIndex >= 2
  net.elect('s1')
  const s1 = net.host('s1').r
  assert.is(s1.status().role, 'leader')
  assert.is(s1.status().term, 4)
  assert.is(net.host('s3').r.termAt(2), 2)
  assert.is(net.host('s4').r.termAt(2), 2)
  assert.is(s1.status().commit, 1, '2@2 is on four of five nodes, but it is not of the current term')

  // s1 crashes; s5, whose log ends in a later term, is elected and overwrites index 2.
  net.host('s1').crash()
  net.drop = () => true
  net.tick(25)
  net.drop = null
  net.elect('s5')
  assert.is(net.host('s5').r.status().role, 'leader')
  net.host('s1').start()
  net.tick(5)
  for (const h of net.hosts.values()) {
    assert.is(h.r.termAt(2), 3, `${h.id} at index 2`)
    assert.ok(h.r.status().commit >= 3)
    assert.not.ok(h.appliedData.includes('2@2'), `${h.id} applied the overwritten entry`)
  }
})

test('commit: an old-term entry is committed together with the first entry of the current term', () => {
  const net = new Net(['a', 'b', 'c'], {
    disks: { a: disk(2, [e(1, 1), e(2, 2)]), b: disk(2, [e(1, 1)]), c: disk(2, [e(1, 1)]) }
  })
  net.elect('a')
  for (const h of net.hosts.values()) {
    assert.is(h.r.status().commit, 3)
    assert.equal(h.appliedData, ['1@1', '2@2'])
  }
})

// ---- snapshots and restarts --------------------------------------------------------------

test('snapshot: a follower behind the compacted log gets InstallSnapshot and the same state', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('c')
  for (let i = 0; i < 30; i++) net.host('a').r.propose(`x${i}`)
  net.flush()
  const snap = net.host('a').compact()!
  assert.is(snap.index, 31)
  assert.equal(snap.membership, { voters: ['a', 'b', 'c'], learners: [] })
  assert.is(net.host('a').r.status().firstIndex, 32)
  for (let i = 30; i < 35; i++) net.host('a').r.propose(`x${i}`)
  net.flush()
  net.heal()
  net.tick(3)
  assert.ok(net.delivered.some(m => m.type === 'snapshot' && m.to === 'c'))
  const c = net.host('c')
  assert.is(c.disk.snapshot?.index, 31)
  assert.equal(c.machine, net.host('a').machine)
  assert.equal(c.appliedData, ['x30', 'x31', 'x32', 'x33', 'x34'])
  assert.is(c.r.status().commit, 36)
})

test('restart: a node comes back from snapshot + log + hard state with its term, vote and state', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  for (let i = 0; i < 10; i++) net.host('a').r.propose(`x${i}`)
  net.flush()
  net.host('b').compact()
  for (let i = 10; i < 15; i++) net.host('a').r.propose(`x${i}`)
  net.flush()
  const b = net.host('b')
  const before = { ...b.r.status() }
  const machine = { ...b.machine }
  b.crash()
  b.start()
  const after = b.r.status()
  assert.is(after.term, before.term)
  assert.is(after.vote, 'a')
  assert.is(after.commit, before.commit)
  assert.is(after.lastIndex, before.lastIndex)
  assert.is(after.snapshotIndex, 11)
  net.flush()
  assert.equal(b.machine, machine, 'the committed entries after the snapshot are applied again')
  net.host('a').r.propose('after')
  net.flush()
  assert.equal(b.appliedData.slice(-1), ['after'])
})

test('restart: a node that loses what it never persisted loses nothing that was acknowledged', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const b = net.host('b')
  net.host('a').r.propose('x')
  // b receives the entry but crashes before handling its Ready: it never acknowledged it.
  net.host('a').handleReady().forEach(m => { if (m.to === 'b') b.r.step(m) })
  assert.is(b.r.status().lastIndex, 2)
  b.crash()
  b.start()
  assert.is(b.r.status().lastIndex, 1)
  net.tick(2)
  assert.is(b.r.status().lastIndex, 2)
  assert.equal(b.appliedData, ['x'])
})

test('restart: a vote survives a restart, so a node never votes twice in a term', () => {
  const net = new Net(['a', 'b', 'c'])
  const b = net.host('b')
  // b learns of term 2 first, and votes in it afterwards: the vote alone must reach the disk.
  b.r.step({ type: 'heartbeatResponse', from: 'c', to: 'b', term: 2 })
  b.handleReady()
  b.r.step({ type: 'vote', from: 'c', to: 'b', term: 2, lastIndex: 0, lastTerm: 0 })
  assert.equal(b.handleReady(), [{ type: 'voteResponse', to: 'c', term: 2, reject: false, from: 'b' }])
  b.crash()
  b.start()
  assert.is(b.r.status().vote, 'c')
  b.r.step({ type: 'vote', from: 'a', to: 'b', term: 2, lastIndex: 0, lastTerm: 0 })
  assert.equal(b.handleReady(), [{ type: 'voteResponse', to: 'a', term: 2, reject: true, from: 'b' }])
})

test('compact: only what was applied, and the arguments are checked', () => {
  const raft = createRaft({ id: 'a', voters: ['a'], random: seededRandom(1) })
  assert.throws(() => raft.compact(5, null), (err: unknown) => err instanceof RaftError && err.code === 'invalid_argument')
  assert.is(raft.compact(0, null), null)
  assert.throws(() => createRaft({ id: 'a', voters: ['a'], electionTicks: 2, heartbeatTicks: 2, random: Math.random }), /heartbeatTicks/)
  assert.throws(() => createRaft({ id: 'a', voters: ['a'], random: Math.random, storage: { hardState: { term: 1, vote: null, commit: 3 } } }), (err: unknown) => err instanceof RaftError && err.code === 'corrupt_storage')
})

// ---- learners and membership ---------------------------------------------------------------

test('learner: receives the log, never campaigns, is never asked to vote', () => {
  const net = new Net(['a', 'b', 'c', 'd'], { learners: ['d'] })
  net.tick(40)
  const leader = net.leader()!
  assert.ok(leader && leader.id !== 'd')
  leader.r.propose('x')
  net.flush()
  const d = net.host('d')
  assert.is(d.r.status().role, 'learner')
  assert.equal(d.appliedData, ['x'])
  assert.not.ok(net.delivered.some(m => isVote(m) && (m.to === 'd' || m.from === 'd')))
  const term = leader.r.status().term
  for (const id of ['a', 'b', 'c']) net.host(id).crash()
  net.tick(100)
  assert.is(d.r.status().role, 'learner')
  assert.is(d.r.status().term, term)
})

test('learner: acknowledgements of learners do not count toward a quorum', () => {
  const net = new Net(['a', 'b', 'c', 'd', 'e'], { learners: ['d', 'e'] })
  net.elect('a')
  net.host('b').crash()
  net.host('c').crash()
  const r = net.host('a').r.propose('x')
  net.flush()
  assert.ok(r.ok)
  assert.is(net.host('d').r.status().lastIndex, 2)
  assert.is(net.host('e').r.status().lastIndex, 2)
  assert.is(net.host('a').r.status().commit, 1, 'three of five nodes hold it, but only one of three voters')
})

test('membership: a new node joins as a learner, is promoted, and another voter is removed', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const a = net.host('a').r
  a.propose('before')
  net.flush()
  const d = net.add('d')
  assert.ok(a.proposeConfChange({ type: 'addLearner', node: 'd' }).ok)
  net.flush()
  assert.equal(d.r.status().learners, ['d'])
  assert.is(d.r.status().role, 'learner')
  assert.equal(d.appliedData, ['before'])
  assert.ok(a.proposeConfChange({ type: 'addVoter', node: 'd' }).ok)
  net.flush()
  assert.ok(a.proposeConfChange({ type: 'remove', node: 'b' }).ok)
  net.flush()
  for (const id of ['a', 'c', 'd']) assert.equal(net.host(id).r.status().voters, ['a', 'c', 'd'], id)
  // b no longer hears from anyone, and does not campaign either.
  const term = net.host('b').r.status().term
  net.tick(50)
  assert.is(net.host('b').r.status().term, term)
  assert.is(net.leader()!.id, 'a')
  // Now a and d make a quorum without c.
  net.host('c').crash()
  a.propose('after')
  net.flush()
  assert.equal(d.appliedData.slice(-1), ['after'])
})

test('membership: one change at a time, and changes that make no sense are refused', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const a = net.host('a').r
  assert.equal(a.proposeConfChange({ type: 'remove', node: 'z' }), { ok: false, reason: 'invalid', message: 'z is not a member' })
  assert.equal(a.proposeConfChange({ type: 'addVoter', node: 'b' }), { ok: false, reason: 'invalid', message: 'b is already a voter' })
  assert.ok(a.proposeConfChange({ type: 'addLearner', node: 'd' }).ok)
  const second = a.proposeConfChange({ type: 'addLearner', node: 'e' })
  assert.is(second.ok, false)
  assert.is(!second.ok && second.reason, 'busy')
  net.flush()
  assert.ok(a.proposeConfChange({ type: 'addLearner', node: 'e' }).ok)
  assert.equal(net.host('b').r.proposeConfChange({ type: 'remove', node: 'c' }), { ok: false, reason: 'not_leader', leader: 'a' })
})

test('membership: a new leader changes membership only after committing an entry of its term', () => {
  const net = new Net(['a', 'b', 'c'])
  net.drop = m => m.type === 'appendResponse'
  net.elect('a')
  const a = net.host('a').r
  assert.is(a.status().role, 'leader')
  const r = a.proposeConfChange({ type: 'addLearner', node: 'd' })
  assert.is(!r.ok && r.reason, 'busy')
  net.drop = null
  net.tick(1)
  assert.ok(a.proposeConfChange({ type: 'addLearner', node: 'd' }).ok)
})

test('membership: a leader that removes itself leads until the change commits, then steps down for good', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const a = net.host('a').r
  assert.ok(a.proposeConfChange({ type: 'remove', node: 'a' }).ok)
  assert.is(a.status().role, 'leader', 'still leading while the change is uncommitted')
  net.flush()
  assert.is(a.status().role, 'follower')
  assert.equal(a.status().voters, ['b', 'c'])
  assert.is(net.host('b').r.status().commit, a.status().commit, 'the commit reached the others before it stepped down')
  net.tick(40)
  const leader = net.leader()!
  assert.ok(leader.id === 'b' || leader.id === 'c')
  assert.is(a.status().term, 1, 'the removed node never campaigns')
  leader.r.propose('x')
  net.flush()
  assert.equal(net.host(leader.id === 'b' ? 'c' : 'b').appliedData, ['x'])
})

test('membership: the configuration is in force as soon as it is in the log, and undone when truncated', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('a')
  const a = net.host('a').r
  assert.ok(a.proposeConfChange({ type: 'addLearner', node: 'd' }).ok)
  assert.equal(a.status().learners, ['d'])
  net.tick(40)
  net.heal()
  net.tick(5)
  assert.not.equal(net.leader()!.id, 'a')
  assert.equal(a.status().learners, [], 'the uncommitted change was truncated away')
})

// ---- reads -------------------------------------------------------------------------------

test('readindex: confirmed by a quorum of heartbeats, at the commit index; refused on followers', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const a = net.host('a')
  a.r.propose('x')
  net.flush()
  assert.equal(a.r.readIndex('r1'), { ok: true })
  assert.equal(a.reads, [])
  net.flush()
  assert.equal(a.reads, [{ context: 'r1', index: 2 }])
  assert.equal(net.host('b').r.readIndex('r2'), { ok: false, reason: 'not_leader', leader: 'a' })
})

test('readindex: a new leader answers busy until it has committed an entry of its term', () => {
  const net = new Net(['a', 'b', 'c'])
  net.drop = m => m.type === 'appendResponse'
  net.elect('a')
  const r = net.host('a').r.readIndex('r1')
  assert.is(!r.ok && r.reason, 'busy')
  net.drop = null
  net.tick(1)
  assert.equal(net.host('a').r.readIndex('r1'), { ok: true })
})

test('readindex: a leader cut off from the quorum cannot confirm a read', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  net.isolate('a')
  const a = net.host('a')
  a.r.readIndex('r1')
  net.tick(5, ['a'])
  assert.equal(a.reads, [])
  net.heal()
  net.tick(1)
  assert.equal(a.reads, [{ context: 'r1', index: 1 }])
})

// ---- the wire ----------------------------------------------------------------------------

test('wire: a malformed message is refused before it changes anything', () => {
  const net = new Net(['a', 'b', 'c'])
  net.elect('a')
  const b = net.host('b').r
  const before = JSON.stringify(b.status())
  const bad: unknown[] = [
    null,
    { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, commit: 1 },
    { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, commit: 1, entries: [{ index: 3, term: 1, type: 'normal', data: 1 }] },
    { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, commit: 1, entries: [{ index: 2, term: 7, type: 'normal', data: 1 }] },
    { type: 'heartbeat', from: 'a', to: 'b', term: -1, commit: 0 },
    { type: 'vote', from: '', to: 'b', term: 5, lastIndex: 0, lastTerm: 0 },
    { type: 'snapshot', from: 'a', to: 'b', term: 1, snapshot: { index: 9, term: 1, membership: { voters: 'a' }, data: null } },
    { type: 'gossip', from: 'a', to: 'b', term: 1 }
  ]
  for (const m of bad) {
    assert.ok(messageProblem(m), JSON.stringify(m))
    assert.throws(() => b.step(m as Message), (err: unknown) => err instanceof RaftError && err.code === 'invalid_argument')
  }
  assert.is(JSON.stringify(b.status()), before)
  assert.is(messageProblem({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0 }), null)
})

test.run()
