// The data that crosses the Raft core's boundary: log entries, messages, persisted state and the
// Ready batch. Everything here is a plain JSON value so that it can go over a stream or into a
// store as it is.

export type NodeId = string

/** `noop` is the empty entry a new leader appends; `config` carries a membership change. */
export type EntryType = 'normal' | 'noop' | 'config'

export interface Entry {
  index: number
  term: number
  type: EntryType
  /**
   * `normal`: what was proposed (a JSON value; a `Uint8Array` proposal is stored as base64 with
   * `bytes: true`, see `entryBytes`). `config`: a `ConfigEntryData`. `noop`: null.
   */
  data: unknown
  bytes?: true
}

/** Voters elect and count toward quorum; learners only receive the log. Disjoint sets. */
export interface Membership {
  voters: NodeId[]
  learners: NodeId[]
}

/**
 * A single-server membership change. `addVoter` of a learner promotes it; `addLearner` of a voter
 * demotes it; `remove` takes a voter or a learner out.
 */
export type ConfChange =
  | { type: 'addVoter', node: NodeId }
  | { type: 'addLearner', node: NodeId }
  | { type: 'remove', node: NodeId }

/** The payload of a `config` entry: the change and the whole membership it results in. */
export interface ConfigEntryData {
  change: ConfChange
  membership: Membership
}

/** What must be on disk before any message of the same Ready is sent. */
export interface HardState {
  term: number
  vote: NodeId | null
  commit: number
}

/** A compaction point: the state machine after applying everything up to `index`. */
export interface Snapshot {
  index: number
  term: number
  /** The membership in force at `index`. */
  membership: Membership
  /** The application's state machine, as the application gave it to `compact`. */
  data: unknown
}

interface Envelope {
  from: NodeId
  to: NodeId
  term: number
}

/** Leader → follower: entries after (prevIndex, prevTerm), and the leader's commit index. */
export interface AppendMessage extends Envelope {
  type: 'append'
  prevIndex: number
  prevTerm: number
  entries: Entry[]
  commit: number
}

/**
 * Follower → leader. Accepted: `index` is the last index known to match. Rejected: `index` is
 * the rejected prevIndex and (hintIndex, hintTerm) the follower's last entry that might match,
 * so the leader skips a whole conflicting term in one round trip.
 */
export interface AppendResponseMessage extends Envelope {
  type: 'appendResponse'
  index: number
  reject: boolean
  hintIndex?: number
  hintTerm?: number
}

/** Leader → follower: "still here". `commit` is capped at what the follower is known to hold. */
export interface HeartbeatMessage extends Envelope {
  type: 'heartbeat'
  commit: number
  /** The ReadIndex request this heartbeat round confirms leadership for. */
  context?: string
}

export interface HeartbeatResponseMessage extends Envelope {
  type: 'heartbeatResponse'
  context?: string
}

/** Leader → follower whose next entry has been compacted away. Answered by an appendResponse. */
export interface SnapshotMessage extends Envelope {
  type: 'snapshot'
  snapshot: Snapshot
}

/**
 * Candidate → voter. A `prevote` asks "would you vote for me at `term`?" without anyone changing
 * term, so a node that was cut off cannot disrupt a working leader when it comes back.
 */
export interface VoteMessage extends Envelope {
  type: 'vote' | 'prevote'
  lastIndex: number
  lastTerm: number
}

export interface VoteResponseMessage extends Envelope {
  type: 'voteResponse' | 'prevoteResponse'
  reject: boolean
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | VoteMessage
  | VoteResponseMessage

export type Role = 'leader' | 'follower' | 'candidate' | 'precandidate' | 'learner'

export interface SoftState {
  leader: NodeId | null
  role: Role
  term: number
}

/** A confirmed ReadIndex: once `applied >= index`, a read for `context` is linearizable. */
export interface ReadState {
  context: string
  index: number
}

/**
 * One batch of work for the caller. Handle Readys one at a time and in order:
 *   1. persist, durably, before step 2 — in one atomic batch if the store has them, else in this
 *      order: `snapshotToApply` (it replaces the stored snapshot AND the whole stored log), then
 *      `entriesToPersist` (delete stored entries with index >= the first one's, then append), then
 *      `hardState` (its commit may point into those entries);
 *   2. send `messages`;
 *   3. restore the state machine from `snapshotToApply`, then apply `committed` in order;
 *   4. call `advance(ready)`.
 * `tick`, `step` and `propose` may be called while a Ready is being handled.
 */
export interface Ready {
  softState: SoftState
  hardState?: HardState
  snapshotToApply?: Snapshot
  entriesToPersist: Entry[]
  committed: Entry[]
  messages: Message[]
  readStates: ReadState[]
}

/** What the caller stored, handed back to `createRaft` on restart. */
export interface PersistedState {
  hardState?: HardState
  snapshot?: Snapshot
  /** Entries after the snapshot, in order. Entries at or below the snapshot index are ignored. */
  entries?: Entry[]
}

export type ProposeResult =
  | { ok: true, index: number, term: number }
  | { ok: false, reason: 'not_leader', leader: NodeId | null }
  /** A configuration change is not committed yet, or this new leader has not committed an entry of its own term yet: retry shortly. */
  | { ok: false, reason: 'busy', message: string }
  /** The change makes no sense against the current membership. */
  | { ok: false, reason: 'invalid', message: string }

export type ReadIndexResult =
  | { ok: true }
  | { ok: false, reason: 'not_leader', leader: NodeId | null }
  | { ok: false, reason: 'busy', message: string }

export interface PeerProgress {
  match: number
  next: number
  state: 'probe' | 'replicate' | 'snapshot'
  recentActive: boolean
}

export interface Status {
  id: NodeId
  role: Role
  term: number
  vote: NodeId | null
  leader: NodeId | null
  commit: number
  applied: number
  firstIndex: number
  lastIndex: number
  snapshotIndex: number
  voters: readonly NodeId[]
  learners: readonly NodeId[]
}
