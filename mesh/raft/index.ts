// mesh/raft — a transport-free Raft core, in the manner of etcd/raft.
//
// The core is a deterministic state machine: no timers, sockets, disks, clocks or Math.random
// inside. The caller owns all of those and drives it:
//
//   const raft = createRaft({ id, voters, learners, electionTicks: 10, heartbeatTicks: 1,
//                             random: seededRandom(seed), storage /* what was persisted */ })
//   every tick interval:      raft.tick()
//   a message from a peer:    raft.step(message)
//   a client write:           raft.propose(data)            → { ok: true, index, term }
//                                                            | { ok: false, reason: 'not_leader', leader }
//                             (a Uint8Array is carried as base64: entryBytes(entry) gives it back)
//   a membership change:      raft.proposeConfChange({ type: 'addLearner' | 'addVoter' | 'remove', node })
//                             → as propose, or { ok: false, reason: 'busy' | 'invalid', message }
//   a node joining a cluster: createRaft({ id, voters: [] }); the leader proposes addLearner, then
//                             addVoter once raft.progress() shows it caught up
//   a linearizable read:      raft.readIndex(context)        → later Ready.readStates: { context, index }
//   force an election now:    raft.campaign()
//   then, whenever raft.hasReady():
//     const rd = raft.ready()
//     1. persist, durably (one atomic batch, or in this order): rd.snapshotToApply (replaces the stored
//        snapshot and the whole stored log), rd.entriesToPersist (delete stored entries with
//        index >= the first one's, then append), rd.hardState;
//     2. send rd.messages: plain JSON objects. The transport may lose, duplicate or reorder them;
//        keeping each peer's messages in order (one stream per peer) lets the leader stream,
//        where a reordered append makes it fall back to probing. On receipt, raft.step throws
//        RaftError 'invalid_argument' for a malformed message (messageProblem says what is wrong);
//     3. restore the state machine from rd.snapshotToApply, apply rd.committed in order (entries of
//        type 'normal' carry proposals; 'noop' and 'config' entries are Raft's own);
//        serve reads from rd.readStates once applied >= their index;
//     4. raft.advance(rd)
//   to bound the log:         raft.compact(appliedIndex, stateMachineBlob) → Snapshot to store
//                             (store it, then delete stored entries up to its index, in that order)
//   on restart:               createRaft({ ..., storage: { hardState, snapshot, entries } }),
//                             the state machine restored from that snapshot; committed entries
//                             after it come out again in Readys.
//   raft.status():            { id, role, term, vote, leader, commit, applied, firstIndex, lastIndex,
//                               snapshotIndex, voters, learners }
//   raft.progress():          on the leader, { [node]: { match, next, state, recentActive } } — e.g. to
//                             promote a learner once it has caught up
//
// What it implements:
// - Elections with PreVote (a node asks whether it would win before raising its term, so a node
//   coming back from a partition does not depose a working leader) and CheckQuorum (a leader that
//   has not heard from a quorum of voters within an election timeout steps down; a node that has
//   heard from a leader within the election timeout ignores vote requests: leader stickiness).
// - Log replication with the consistency check, fast backtracking (a rejection carries the index
//   and term the follower can match up to), flow control (probe / stream / snapshot per follower),
//   commitment only by counting replicas of a current-term entry (§5.4.2), a no-op entry on
//   becoming leader.
// - Snapshots: compaction driven by the application; InstallSnapshot to followers that fell behind
//   the leader's log; restart from snapshot + log + hard state.
// - Membership: voters and learners (learners get the log, never campaign, and never count
//   toward any quorum). Changes are SINGLE-SERVER changes (Raft dissertation §4.1), one at a time,
//   each a `config` entry carrying the full resulting membership. A membership takes effect on
//   every node as soon as its entry is in that node's log (not when committed), and is undone if
//   the entry is truncated away. A new leader accepts a change only after committing an entry of
//   its own term, and only when the previous change is committed. A leader that removes (or
//   demotes) itself keeps leading until that change is committed, then steps down.
//   A vote request only ever goes to the candidate's voters; a node answers it on the merits
//   (term, log) even if its own, possibly older, log still lists it as a learner.
// - ReadIndex: the leader records its commit index, confirms it is still leader with a round of
//   heartbeats acknowledged by a quorum, then hands out { context, index }.
//
// The simulator in test/mesh/raft/sim.ts drives clusters through loss, duplication, reordering,
// (asymmetric) partitions, crashes that lose everything not persisted, compaction and membership
// changes, checking Raft's safety properties after every step.

export { createRaft, type Raft, type RaftConfig } from './raft.ts'
export { seededRandom } from './random.ts'
export { RaftError, type RaftErrorCode } from './errors.ts'
export { applyChange } from './membership.ts'
export { messageProblem } from './wire.ts'
export type {
  AppendMessage, AppendResponseMessage, ConfChange, ConfigEntryData, Entry, EntryType, HardState,
  HeartbeatMessage, HeartbeatResponseMessage, Membership, Message, NodeId, PeerProgress, ProposeResult,
  Ready, ReadIndexResult, ReadState, Role, Snapshot, SnapshotMessage, SoftState, Status, PersistedState,
  VoteMessage, VoteResponseMessage
} from './types.ts'

import type { Entry } from './types.ts'

/** The bytes of an entry proposed as a Uint8Array; undefined for other entries. */
export function entryBytes (entry: Entry): Uint8Array | undefined {
  if (!entry.bytes || typeof entry.data !== 'string') return undefined
  return new Uint8Array(Buffer.from(entry.data, 'base64'))
}
