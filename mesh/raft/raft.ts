// The Raft core: a deterministic state machine in the manner of etcd/raft. Ticks, messages and
// proposals go in; Readys (messages to send, state to persist, entries to apply) come out.
// See index.ts for the contract and the choices (PreVote, CheckQuorum, single-server changes).
import { RaftError } from './errors.ts'
import { EMPTY_SNAPSHOT, RaftLog } from './log.ts'
import { applyChange, copyMembership, membershipProblem, quorum } from './membership.ts'
import { Progress } from './progress.ts'
import { messageProblem } from './wire.ts'
import type {
  AppendMessage, AppendResponseMessage, ConfChange, ConfigEntryData, Entry, EntryType, HardState,
  HeartbeatMessage, HeartbeatResponseMessage, Membership, Message, NodeId, PeerProgress, ProposeResult, Ready, ReadIndexResult,
  ReadState, Snapshot, SnapshotMessage, SoftState, Status, PersistedState, VoteMessage
} from './types.ts'

export interface RaftConfig {
  /** This node. */
  id: NodeId
  /**
   * The bootstrap membership of a brand-new cluster. Ignored once the node's storage holds a
   * snapshot or configuration entries, which say who the members are. A node that joins an
   * existing cluster starts with `voters: []` and learns the membership from the leader.
   */
  voters: NodeId[]
  learners?: NodeId[]
  /** Ticks without a leader before a voter campaigns; the actual timeout is drawn from [n, 2n). Default 10. */
  electionTicks?: number
  /** Ticks between a leader's heartbeats. Default 1; must be less than electionTicks. */
  heartbeatTicks?: number
  /** Uniform in [0, 1): the only source of randomness (election timeouts). Pass a seeded PRNG for determinism. */
  random: () => number
  /** What was persisted before a restart. Omitted: a fresh node. */
  storage?: PersistedState
  /** The last index the application's state machine already holds (when it persists that itself). Default: the snapshot index. */
  applied?: number
  /** Ask "would you vote for me?" before raising the term. Default true. */
  preVote?: boolean
  /** A leader that has not heard from a quorum within an election timeout steps down; followers that hear from a leader ignore vote requests. Default true. */
  checkQuorum?: boolean
  /** Most entries in one append message. Default 256. */
  maxEntriesPerMessage?: number
  /** Most unacknowledged append messages to one follower while streaming. Default 64. */
  maxInflightMessages?: number
  /** Ticks to wait for a snapshot's acknowledgement before trying that follower again. Default 4 × electionTicks. */
  snapshotTimeoutTicks?: number
}

export interface Raft {
  readonly id: NodeId
  /** Advances the logical clock by one tick. */
  tick(): void
  /**
   * Feeds one message from a peer. A malformed one (see `messageProblem`) throws RaftError
   * 'invalid_argument' before anything changes; one addressed to another node is ignored.
   */
  step(message: Message): void
  /** Appends an entry, on the leader only. Do not mutate `data` afterwards. */
  propose(data: Uint8Array | string | object): ProposeResult
  /** Appends a single-server membership change, on the leader only, one at a time. */
  proposeConfChange(change: ConfChange): ProposeResult
  /** Starts a linearizable read; its ReadState comes out in a later Ready. `context` must be unique. */
  readIndex(context: string): ReadIndexResult
  /** Starts an election now (a voter that is not leader). */
  campaign(): void
  hasReady(): boolean
  /** Hands out everything new since the last Ready; see `Ready` for what to do with it. */
  ready(): Ready
  /** Says that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void
  /**
   * Drops the log up to `index` (at most what was applied), which `data` captures. Returns the
   * snapshot, which the caller stores (replacing the previous one) before deleting stored entries
   * up to `index`; null when the log already starts after `index`.
   */
  compact(index: number, data: unknown): Snapshot | null
  status(): Status
  /** The leader's view of every member's replication (itself included when a member); null on other roles. */
  progress(): Record<NodeId, PeerProgress> | null
  /** The term of the entry at `index`, when the log still holds it (or its snapshot ends there). */
  termAt(index: number): number | undefined
}

type State = 'leader' | 'follower' | 'candidate' | 'precandidate'

interface PendingRead {
  context: string
  index: number
  acks: Set<NodeId>
}

interface MembershipPoint {
  index: number
  membership: Membership
}

type Outgoing = Message extends infer M ? M extends Message ? Omit<M, 'from'> : never : never

export function createRaft (config: RaftConfig): Raft {
  return new RaftNode(config)
}

class RaftNode implements Raft {
  readonly id: NodeId
  private readonly electionTicks: number
  private readonly heartbeatTicks: number
  private readonly random: () => number
  private readonly preVote: boolean
  private readonly checkQuorum: boolean
  private readonly maxEntries: number
  private readonly maxInflight: number
  private readonly snapshotTimeoutTicks: number

  private term: number
  private vote: NodeId | null
  private lead: NodeId | null = null
  private state: State = 'follower'
  private readonly log: RaftLog
  private applied: number
  /** The last index handed out in a Ready for applying. */
  private applying: number

  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  private readonly votes = new Map<NodeId, boolean>()
  /** Leader only: every other member's replication progress. */
  private readonly prs = new Map<NodeId, Progress>()
  private pendingReads: PendingRead[] = []

  private msgs: Message[] = []
  private readStates: ReadState[] = []
  private handedHardState: HardState
  private handedSoftState: SoftState

  // Membership takes effect as soon as its entry is in the log (Raft dissertation §4.1), so it
  // is the last configuration entry in the log, or the snapshot's. Truncating the log undoes it.
  private membershipBase: MembershipPoint
  private membershipLog: MembershipPoint[] = []
  private voters = new Set<NodeId>()
  private learners = new Set<NodeId>()
  /** Frozen, replaced on every change: status() hands them out as they are. */
  private voterList: readonly NodeId[] = []
  private learnerList: readonly NodeId[] = []

  constructor (config: RaftConfig) {
    this.id = config.id
    this.electionTicks = positiveInt(config.electionTicks ?? 10, 'electionTicks')
    this.heartbeatTicks = positiveInt(config.heartbeatTicks ?? 1, 'heartbeatTicks')
    if (this.heartbeatTicks >= this.electionTicks) throw new RaftError('invalid_argument', `heartbeatTicks (${this.heartbeatTicks}) must be less than electionTicks (${this.electionTicks})`)
    if (typeof config.random !== 'function') throw new RaftError('invalid_argument', 'random must be a function returning [0, 1)')
    if (typeof config.id !== 'string' || config.id === '') throw new RaftError('invalid_argument', 'id must be a non-empty string')
    this.random = config.random
    this.preVote = config.preVote ?? true
    this.checkQuorum = config.checkQuorum ?? true
    this.maxEntries = positiveInt(config.maxEntriesPerMessage ?? 256, 'maxEntriesPerMessage')
    this.maxInflight = positiveInt(config.maxInflightMessages ?? 64, 'maxInflightMessages')
    this.snapshotTimeoutTicks = positiveInt(config.snapshotTimeoutTicks ?? 4 * this.electionTicks, 'snapshotTimeoutTicks')

    const storage = config.storage ?? {}
    const snapshot = storage.snapshot ?? EMPTY_SNAPSHOT
    const hs = storage.hardState ?? { term: 0, vote: null, commit: 0 }
    this.log = new RaftLog(snapshot, storage.entries ?? [], hs.commit)
    this.term = hs.term
    this.vote = hs.vote
    this.handedHardState = { ...hs }

    const bootstrap = snapshot.index > 0 ? snapshot.membership : { voters: config.voters, learners: config.learners ?? [] }
    const problem = membershipProblem(bootstrap)
    if (problem) throw new RaftError('invalid_argument', `membership: ${problem}`)
    this.membershipBase = { index: snapshot.index, membership: copyMembership(bootstrap) }
    for (const e of this.log.entries) if (e.type === 'config') this.membershipLog.push({ index: e.index, membership: (e.data as ConfigEntryData).membership })
    this.useMembership()

    const applied = config.applied ?? snapshot.index
    if (applied > this.log.commit) throw new RaftError('invalid_argument', `applied ${applied} is past the commit index ${this.log.commit}`)
    this.applied = Math.max(applied, snapshot.index)
    this.applying = this.applied

    this.becomeFollower(this.term, null)
    this.handedSoftState = this.softState()
  }

  // ---- the public face -------------------------------------------------------------------

  tick (): void {
    if (this.state === 'leader') this.tickLeader()
    else this.tickElection()
  }

  step (m: Message): void {
    const problem = messageProblem(m)
    if (problem) throw new RaftError('invalid_argument', `malformed message: ${problem}`)
    if (m.to !== this.id || m.from === this.id) return
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'prevote') && this.inLease()) return
      if (m.type === 'prevote' || (m.type === 'prevoteResponse' && !m.reject)) {
        // A prevote changes no one's term: that is the point of it.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
        this.becomeFollower(m.term, fromLeader ? m.from : null)
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A leader from an older term that cannot hear the new one: tell it our term so that it
        // steps down (with PreVote, nobody else would raise its term for it).
        this.send({ type: 'appendResponse', to: m.from, term: this.term, index: 0, reject: false })
      } else if (m.type === 'prevote') {
        this.send({ type: 'prevoteResponse', to: m.from, term: this.term, reject: true })
      }
      return
    }

    if (m.type === 'vote' || m.type === 'prevote') return this.handleVoteRequest(m)
    switch (this.state) {
      case 'leader': return this.stepLeader(m)
      case 'candidate':
      case 'precandidate': return this.stepCandidate(m)
      case 'follower': return this.stepFollower(m)
    }
  }

  propose (data: Uint8Array | string | object): ProposeResult {
    if (this.state !== 'leader') return { ok: false, reason: 'not_leader', leader: this.lead }
    const e = data instanceof Uint8Array
      ? this.appendLocal('normal', Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), true)
      : this.appendLocal('normal', data)
    this.afterLocalAppend()
    return { ok: true, index: e.index, term: e.term }
  }

  proposeConfChange (change: ConfChange): ProposeResult {
    if (this.state !== 'leader') return { ok: false, reason: 'not_leader', leader: this.lead }
    // A new leader must commit an entry of its own term before changing membership, or an
    // uncommitted change from an older term and this one could form disjoint majorities
    // (the single-server-change bug, raft-dev 2015).
    if (this.log.term(this.log.commit) !== this.term) return { ok: false, reason: 'busy', message: `leader ${this.id} has not committed an entry of term ${this.term} yet` }
    const pending = this.membershipIndex()
    if (pending > this.log.commit) return { ok: false, reason: 'busy', message: `the membership change at index ${pending} is not committed yet` }
    const next = applyChange(this.currentMembership(), change)
    if (typeof next === 'string') return { ok: false, reason: 'invalid', message: next }
    const data: ConfigEntryData = { change: { ...change }, membership: next }
    const e = this.appendLocal('config', data)
    this.afterLocalAppend()
    return { ok: true, index: e.index, term: e.term }
  }

  readIndex (context: string): ReadIndexResult {
    if (this.state !== 'leader') return { ok: false, reason: 'not_leader', leader: this.lead }
    // Only once an entry of this term is committed does the commit index cover everything any
    // earlier leader committed.
    if (this.log.term(this.log.commit) !== this.term) return { ok: false, reason: 'busy', message: `leader ${this.id} has not committed an entry of term ${this.term} yet` }
    const read: PendingRead = { context, index: this.log.commit, acks: new Set(this.voters.has(this.id) ? [this.id] : []) }
    if (read.acks.size >= quorum(this.voters.size)) {
      this.readStates.push({ context, index: read.index })
    } else {
      this.pendingReads.push(read)
      this.bcastHeartbeat(context)
    }
    return { ok: true }
  }

  campaign (): void {
    if (this.state !== 'leader') this.startElection(this.preVote ? 'prevote' : 'vote')
  }

  hasReady (): boolean {
    if (this.msgs.length > 0 || this.readStates.length > 0 || this.log.pendingSnapshot) return true
    if (this.log.unstable <= this.log.lastIndex() || this.log.commit > this.applying) return true
    const hs = this.handedHardState
    if (hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.log.commit) return true
    const ss = this.handedSoftState
    return ss.leader !== this.lead || ss.term !== this.term || ss.role !== this.role()
  }

  ready (): Ready {
    const rd: Ready = {
      softState: this.softState(),
      entriesToPersist: [],
      committed: [],
      messages: this.msgs,
      readStates: this.readStates
    }
    this.msgs = []
    this.readStates = []
    const hs = this.handedHardState
    if (hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.log.commit) {
      rd.hardState = { term: this.term, vote: this.vote, commit: this.log.commit }
      this.handedHardState = { ...rd.hardState }
    }
    if (this.log.pendingSnapshot) {
      rd.snapshotToApply = this.log.pendingSnapshot
      this.log.pendingSnapshot = null
      this.applying = Math.max(this.applying, rd.snapshotToApply.index)
    }
    rd.entriesToPersist = this.log.takeUnstable()
    if (this.log.commit > this.applying) {
      rd.committed = this.log.slice(this.applying + 1, this.log.commit + 1)
      this.applying = this.log.commit
    }
    this.handedSoftState = rd.softState
    return rd
  }

  advance (rd: Ready): void {
    const lastApplied = Math.max(rd.snapshotToApply?.index ?? 0, rd.committed[rd.committed.length - 1]?.index ?? 0)
    if (lastApplied > this.applied) this.applied = lastApplied
  }

  compact (index: number, data: unknown): Snapshot | null {
    if (!Number.isInteger(index)) throw new RaftError('invalid_argument', `compact: index ${index} is not an integer`)
    if (index <= this.log.snapshot.index) return null
    if (index > this.applied) throw new RaftError('invalid_argument', `compact: index ${index} is past the applied index ${this.applied}`)
    const snapshot: Snapshot = { index, term: this.log.term(index)!, membership: copyMembership(this.membershipAt(index)), data }
    this.log.compact(snapshot)
    let k = 0
    while (k < this.membershipLog.length && this.membershipLog[k]!.index <= index) k++
    if (k > 0) this.membershipLog = this.membershipLog.slice(k)
    this.membershipBase = { index, membership: snapshot.membership }
    return snapshot
  }

  status (): Status {
    return {
      id: this.id,
      role: this.role(),
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.commit,
      applied: this.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot.index,
      voters: this.voterList,
      learners: this.learnerList
    }
  }

  progress (): Record<NodeId, PeerProgress> | null {
    if (this.state !== 'leader') return null
    const last = this.log.lastIndex()
    const out: Record<NodeId, PeerProgress> = {}
    if (this.voters.has(this.id) || this.learners.has(this.id)) out[this.id] = { match: last, next: last + 1, state: 'replicate', recentActive: true }
    for (const [id, pr] of this.prs) out[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive }
    return out
  }

  termAt (index: number): number | undefined {
    return this.log.term(index)
  }

  // ---- roles -------------------------------------------------------------------------------

  private role (): SoftState['role'] {
    if (this.state === 'follower' && this.learners.has(this.id)) return 'learner'
    return this.state
  }

  private softState (): SoftState {
    return { leader: this.lead, role: this.role(), term: this.term }
  }

  private reset (term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = null
    }
    this.lead = null
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizeElectionTimeout()
    this.votes.clear()
    this.prs.clear()
    this.pendingReads = []
  }

  private randomizeElectionTimeout (): void {
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks)
  }

  private becomeFollower (term: number, lead: NodeId | null): void {
    this.reset(term)
    this.state = 'follower'
    this.lead = lead
  }

  private becomePreCandidate (): void {
    // Neither the term nor the vote changes until a quorum says it would vote for us.
    this.votes.clear()
    this.prs.clear()
    this.pendingReads = []
    this.lead = null
    this.state = 'precandidate'
    this.randomizeElectionTimeout()
  }

  private becomeCandidate (): void {
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = 'candidate'
  }

  private becomeLeader (): void {
    this.reset(this.term)
    this.state = 'leader'
    this.lead = this.id
    for (const id of [...this.voterList, ...this.learnerList]) {
      if (id !== this.id) this.prs.set(id, new Progress(this.log.lastIndex() + 1, this.maxInflight))
    }
    // Entries of earlier terms are committed only by committing one of this term (§5.4.2).
    this.appendLocal('noop', null)
    this.afterLocalAppend()
  }

  /** Leader stickiness: a node that heard from a leader within the election timeout ignores vote requests. */
  private inLease (): boolean {
    return this.checkQuorum && this.lead !== null && this.electionElapsed < this.electionTicks
  }

  // ---- elections ---------------------------------------------------------------------------

  private tickElection (): void {
    this.electionElapsed++
    if (this.voters.has(this.id) && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.startElection(this.preVote ? 'prevote' : 'vote')
    }
  }

  private startElection (kind: 'prevote' | 'vote'): void {
    if (!this.voters.has(this.id)) return
    if (kind === 'prevote') this.becomePreCandidate()
    else this.becomeCandidate()
    const term = kind === 'prevote' ? this.term + 1 : this.term
    this.votes.set(this.id, true)
    if (this.tally() === 'won') return this.wonElection()
    const lastIndex = this.log.lastIndex()
    const lastTerm = this.log.lastTerm()
    for (const id of this.voterList) {
      if (id !== this.id) this.send({ type: kind, to: id, term, lastIndex, lastTerm })
    }
  }

  private wonElection (): void {
    if (this.state === 'precandidate') this.startElection('vote')
    else this.becomeLeader()
  }

  private tally (): 'won' | 'lost' | 'pending' {
    let granted = 0
    let rejected = 0
    for (const [id, v] of this.votes) {
      if (!this.voters.has(id)) continue
      if (v) granted++
      else rejected++
    }
    const q = quorum(this.voters.size)
    if (granted >= q) return 'won'
    if (rejected > this.voters.size - q) return 'lost'
    return 'pending'
  }

  private handleVoteRequest (m: VoteMessage): void {
    const type = m.type === 'vote' ? 'voteResponse' : 'prevoteResponse'
    const canVote = this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (m.type === 'prevote' && m.term > this.term)
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // A granted prevote answers with the term asked about, so the precandidate can tell
      // answers to this round from stale ones.
      this.send({ type, to: m.from, term: m.term, reject: false })
      if (m.type === 'vote') {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.send({ type, to: m.from, term: this.term, reject: true })
    }
  }

  private stepCandidate (m: Message): void {
    switch (m.type) {
      case 'append':
        this.becomeFollower(this.term, m.from)
        return this.handleAppend(m)
      case 'heartbeat':
        this.becomeFollower(this.term, m.from)
        return this.handleHeartbeat(m)
      case 'snapshot':
        this.becomeFollower(this.term, m.from)
        return this.handleSnapshot(m)
      case 'prevoteResponse':
        if (this.state !== 'precandidate') return
        if (!m.reject && m.term !== this.term + 1) return
        return this.poll(m.from, !m.reject)
      case 'voteResponse':
        if (this.state !== 'candidate') return
        return this.poll(m.from, !m.reject)
    }
  }

  private poll (from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted)
    const result = this.tally()
    if (result === 'won') this.wonElection()
    else if (result === 'lost') this.becomeFollower(this.term, null)
  }

  // ---- follower ----------------------------------------------------------------------------

  private stepFollower (m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0
        this.lead = m.from
        return this.handleAppend(m)
      case 'heartbeat':
        this.electionElapsed = 0
        this.lead = m.from
        return this.handleHeartbeat(m)
      case 'snapshot':
        this.electionElapsed = 0
        this.lead = m.from
        return this.handleSnapshot(m)
    }
  }

  private handleAppend (m: AppendMessage): void {
    const log = this.log
    if (m.prevIndex < log.commit) {
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: log.commit, reject: false })
      return
    }
    if (log.term(m.prevIndex) !== m.prevTerm) {
      const [hintIndex, hintTerm] = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm)
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: m.prevIndex, reject: true, hintIndex, hintTerm })
      return
    }
    const lastNew = m.prevIndex + m.entries.length
    const conflict = log.findConflict(m.entries)
    if (conflict !== 0) this.appendToLog(m.entries.slice(conflict - m.prevIndex - 1))
    // Only what this message proved to match may be committed.
    log.commitTo(Math.min(m.commit, lastNew))
    this.send({ type: 'appendResponse', to: m.from, term: this.term, index: lastNew, reject: false })
  }

  private handleHeartbeat (m: HeartbeatMessage): void {
    this.log.commitTo(m.commit)
    const resp: Omit<HeartbeatResponseMessage, 'from'> = { type: 'heartbeatResponse', to: m.from, term: this.term }
    if (m.context !== undefined) resp.context = m.context
    this.send(resp)
  }

  private handleSnapshot (m: SnapshotMessage): void {
    const s = m.snapshot
    const log = this.log
    if (s.index <= log.commit) {
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: log.commit, reject: false })
      return
    }
    if (log.term(s.index) === s.term) {
      // Our log already holds the snapshot's last entry, hence everything before it.
      log.commitTo(s.index)
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: log.commit, reject: false })
      return
    }
    log.restore(s)
    this.membershipBase = { index: s.index, membership: copyMembership(s.membership) }
    this.membershipLog = []
    this.useMembership()
    this.send({ type: 'appendResponse', to: m.from, term: this.term, index: log.lastIndex(), reject: false })
  }

  // ---- leader ------------------------------------------------------------------------------

  private tickLeader (): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, null)
          return
        }
        for (const pr of this.prs.values()) pr.recentActive = false
      }
    }
    for (const pr of this.prs.values()) {
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= this.snapshotTimeoutTicks) pr.becomeProbe()
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0
      this.bcastHeartbeat(this.pendingReads[this.pendingReads.length - 1]?.context)
    }
  }

  private quorumActive (): boolean {
    let active = 0
    for (const id of this.voterList) {
      if (id === this.id || this.prs.get(id)?.recentActive) active++
    }
    return active >= quorum(this.voters.size)
  }

  private stepLeader (m: Message): void {
    const pr = this.prs.get(m.from)
    if (!pr) return
    switch (m.type) {
      case 'appendResponse':
        pr.recentActive = true
        return this.handleAppendResponse(m, pr)
      case 'heartbeatResponse':
        pr.recentActive = true
        pr.probeSent = false
        // Appends may all have been lost; a live follower must not stay stuck behind a full window.
        if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirstInflight()
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, pr, true)
        if (m.context !== undefined) this.confirmRead(m.context, m.from)
    }
  }

  private handleAppendResponse (m: AppendResponseMessage, pr: Progress): void {
    if (m.reject) {
      let matchHint = m.hintIndex ?? m.index - 1
      if ((m.hintTerm ?? 0) > 0) matchHint = this.log.findConflictByTerm(matchHint, m.hintTerm!)[0]
      if (pr.maybeDecrTo(m.index, matchHint)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.sendAppend(m.from, pr, true)
      }
      return
    }
    const wasPaused = pr.isPaused()
    if (!pr.maybeUpdate(m.index)) return
    if (pr.state === 'probe') pr.becomeReplicate()
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) { pr.becomeProbe(); pr.becomeReplicate() } else if (pr.state === 'replicate') pr.freeInflightUpTo(m.index)
    if (this.maybeCommit()) {
      if (this.state !== 'leader') return
    } else if (wasPaused) {
      this.sendAppend(m.from, pr, true)
    }
    while (this.sendAppend(m.from, pr, false)) { /* stream while the window allows */ }
  }

  /** Sends `to` what it lacks: entries, or the snapshot when they are compacted away. */
  private sendAppend (to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false
    const log = this.log
    const prevIndex = pr.next - 1
    const prevTerm = log.term(prevIndex)
    if (prevTerm === undefined) {
      if (prevIndex > log.lastIndex()) throw new RaftError('internal', `progress of ${to} is past the log: next ${pr.next}, last ${log.lastIndex()}`)
      pr.becomeSnapshot(log.snapshot.index)
      this.send({ type: 'snapshot', to, term: this.term, snapshot: log.snapshot })
      return true
    }
    const entries = log.slice(pr.next, Math.min(log.lastIndex(), prevIndex + this.maxEntries) + 1)
    if (entries.length === 0 && !sendIfEmpty) return false
    this.send({ type: 'append', to, term: this.term, prevIndex, prevTerm, entries, commit: log.commit })
    pr.sentEntries(entries[entries.length - 1]?.index)
    return true
  }

  private bcastAppend (sendIfEmpty: boolean): void {
    for (const [id, pr] of this.prs) this.sendAppend(id, pr, sendIfEmpty)
  }

  private bcastHeartbeat (context: string | undefined): void {
    for (const [id, pr] of this.prs) {
      const m: Omit<HeartbeatMessage, 'from'> = { type: 'heartbeat', to: id, term: this.term, commit: Math.min(pr.match, this.log.commit) }
      if (context !== undefined) m.context = context
      this.send(m)
    }
  }

  private appendLocal (type: EntryType, data: unknown, bytes = false): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data }
    if (bytes) e.bytes = true
    this.appendToLog([e])
    return e
  }

  /** After the leader appended: commit at once if it alone is a quorum, else send the entry out. */
  private afterLocalAppend (): void {
    if (!this.maybeCommit()) this.bcastAppend(false)
  }

  /**
   * Advances the commit index to what a quorum of voters holds, counting only when that entry is
   * of the current term (§5.4.2, Figure 8). When it advances, tells everyone; a leader that is no
   * longer a voter steps down once the change that removed it is committed.
   */
  private maybeCommit (): boolean {
    const matches: number[] = []
    for (const id of this.voterList) matches.push(id === this.id ? this.log.lastIndex() : this.prs.get(id)?.match ?? 0)
    matches.sort((a, b) => b - a)
    const index = matches[quorum(matches.length) - 1] ?? 0
    if (index <= this.log.commit || this.log.term(index) !== this.term) return false
    this.log.commitTo(index)
    this.bcastAppend(true)
    if (!this.voters.has(this.id) && this.log.commit >= this.membershipIndex()) this.becomeFollower(this.term, null)
    return true
  }

  private confirmRead (context: string, from: NodeId): void {
    const k = this.pendingReads.findIndex(r => r.context === context)
    if (k < 0 || !this.voters.has(from)) return
    const read = this.pendingReads[k]!
    read.acks.add(from)
    let acks = 0
    for (const id of read.acks) if (this.voters.has(id)) acks++
    if (acks < quorum(this.voters.size)) return
    // Leadership confirmed after every earlier request was made too.
    for (const r of this.pendingReads.splice(0, k + 1)) this.readStates.push({ context: r.context, index: r.index })
  }

  // ---- the log and membership --------------------------------------------------------------

  /** Appends to the log (truncating from the first entry's index) and keeps membership in step. */
  private appendToLog (ents: Entry[]): void {
    if (ents.length === 0) return
    const first = ents[0]!.index
    let changed = false
    if (first <= this.log.lastIndex()) {
      while (this.membershipLog.length > 0 && this.membershipLog[this.membershipLog.length - 1]!.index >= first) {
        this.membershipLog.pop()
        changed = true
      }
    }
    this.log.append(ents)
    for (const e of ents) {
      if (e.type === 'config') {
        this.membershipLog.push({ index: e.index, membership: (e.data as ConfigEntryData).membership })
        changed = true
      }
    }
    if (changed) this.useMembership()
  }

  private currentMembership (): Membership {
    return this.membershipLog[this.membershipLog.length - 1]?.membership ?? this.membershipBase.membership
  }

  private membershipIndex (): number {
    return this.membershipLog[this.membershipLog.length - 1]?.index ?? this.membershipBase.index
  }

  private membershipAt (index: number): Membership {
    let m = this.membershipBase.membership
    for (const p of this.membershipLog) {
      if (p.index > index) break
      m = p.membership
    }
    return m
  }

  private useMembership (): void {
    const m = this.currentMembership()
    this.voterList = Object.freeze([...m.voters])
    this.learnerList = Object.freeze([...m.learners])
    this.voters = new Set(m.voters)
    this.learners = new Set(m.learners)
    if (this.state !== 'leader') return
    for (const id of [...this.voterList, ...this.learnerList]) {
      // Probe with the last entry first: a node that was just added most likely has none of the log.
      if (id !== this.id && !this.prs.has(id)) this.prs.set(id, new Progress(Math.max(this.log.lastIndex(), 1), this.maxInflight))
    }
    for (const id of [...this.prs.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.prs.delete(id)
    }
  }

  private send (m: Outgoing): void {
    (m as Message).from = this.id
    this.msgs.push(m as Message)
  }
}

function positiveInt (n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RaftError('invalid_argument', `${name} must be a positive integer, got ${n}`)
  return n
}
