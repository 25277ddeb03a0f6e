// mesh/raft/node.ts — the driver loop that hosts the Raft core on a real node: a tick timer,
// Raft messages over a transport, the log and hard state in a storage, the application's state
// machine fed with committed entries in order. Storage and transport are interfaces
// (storage.ts, transport.ts): LevelDB and the mesh on a host, in-memory fakes in tests.
//
//   const node = await startRaftNode({ storage: await levelStorage(dir), transport: meshTransport(mesh, { messageTimeoutMs }),
//                                      voters: [idA, idB, idC],
//                                      apply: e => machine.apply(e.data),
//                                      snapshot: () => machine.dump(), restore: d => machine.load(d) })
//   const { index, term } = await node.propose({ op: 'put', key, value })   // on any member
//   node.status(); node.leader(); await node.close()
//
// How it follows the core's Ready contract (mesh/raft/index.ts), one Ready at a time, in order:
//   1. the snapshot, entries and hard state go to storage in ONE atomic save (for LevelDB one
//      batch, fsync'd unless `sync: false`), so a kill -9 at any point leaves either all of a
//      Ready on disk or none;
//   2. then its messages are queued for sending (see below);
//   3. then the state machine is restored from its snapshot and fed its committed entries, in
//      order, awaiting `apply` one entry at a time;
//   4. then `advance`. Every `compactEvery` applied entries, `snapshot()` is taken and the log up
//      to there dropped (storage.compact: the snapshot and the deletes in one batch).
//
// The state machine lives in the application's memory: on start the driver hands the stored
// snapshot to `restore`, and the core hands every committed entry after it to `apply` again.
// So within one process lifetime each entry is applied exactly once, in log order; an
// application that keeps its own durable state must make `apply` idempotent (or key it on index).
//
// The mesh transport: a mesh channel (mesh/channel.ts) on `/dstack/raft/2.0.0`: one long-lived stream to
// each peer, one frame `{ msgs: Message[] }` per peer and Ready, so a peer receives our messages
// in the order we sent them. No answers: Raft's own responses are messages the other way. A
// message whose `from` is not the sending peer is dropped (peers cannot speak for each other).
// When a peer cannot be reached its messages are dropped (Raft retransmits) and sending to it
// backs off for a moment. (Version 1 sent each batch as a request on a new stream: with fifty
// members the leader spent most of its time opening streams.)
//
// Proposals: on the leader they go straight into the log; on a follower they are forwarded to
// the leader over `/dstack/raft-propose/1.0.0`, which answers `{ index, term }` once the entry is
// committed and applied there; the follower then waits until it has applied that index itself.
// With no leader known, `propose` waits for one until its timeout, then fails with code
// `no_leader`.
import { Buffer } from 'node:buffer'
import { createRaft, entryBytes, RaftError, type ConfChange, type Message, type PeerProgress, type Raft, type Ready, type Status } from './index.ts'
import { CodedError } from '../errors.ts'
import type { RaftStorage } from './storage.ts'
import type { ForwardedProposal, RaftTransport } from './transport.ts'

export { RAFT_PROTOCOL, RAFT_PROPOSE_PROTOCOL } from './transport.ts'

export type RaftNodeErrorCode =
  /** No leader was known (or reachable) before the proposal's timeout. */
  | 'no_leader'
  /** The proposal went into a log but was not seen applied before its timeout: it may still commit. */
  | 'timeout'
  /** The entry the proposal went into was replaced by another leader's: it did not commit. */
  | 'dropped'
  /** The leader may or may not have taken the proposal (the connection broke mid-call), or a snapshot covered it before it was seen. */
  | 'unknown_outcome'
  /** The node was closed. */
  | 'closed'
  /** A membership change was asked of a node that is not the leader. */
  | 'not_leader'
  /** A membership change must wait: the previous one, or the new leader's first commit, is pending. */
  | 'busy'
  /** A membership change that does not apply (see the message). */
  | 'invalid'
  /** The node stopped on an error (storage, apply, a broken invariant): see the message. */
  | 'failed'

export class RaftNodeError extends CodedError<RaftNodeErrorCode> {
  override name = 'RaftNodeError'
}

export interface AppliedEntry {
  index: number
  term: number
  /** What was proposed; a Uint8Array proposal comes back as a Uint8Array. */
  data: unknown
}

export interface RaftNodeOptions {
  /** Where the hard state, the snapshot and the log are kept (storage.ts: levelStorage, memoryStorage). */
  storage: RaftStorage
  /** How this node reaches the others (transport.ts: meshTransport, memoryNetwork); its `self` is this node's id. */
  transport: RaftTransport
  /** Peer ids of the voters of a new cluster (ignored once the log says who the members are). */
  voters: string[]
  learners?: string[]
  /** Milliseconds per Raft tick. Default 100. */
  tickMs?: number
  /** Ticks without a leader before a voter campaigns (drawn from [n, 2n)). Default 10. */
  electionTicks?: number
  /** Ticks between the leader's heartbeats. Default 1. */
  heartbeatTicks?: number
  /** Applies one committed entry to the state machine; awaited, in log order. Throwing stops the node. */
  apply: (entry: AppliedEntry) => void | Promise<void>
  /** The state machine as a JSON value, for compaction. Without it the log is never compacted. */
  snapshot?: () => unknown
  /** Replaces the state machine with a snapshot's data (at start, or one sent by the leader). */
  restore?: (data: unknown) => void | Promise<void>
  /** Compact after this many entries applied since the last snapshot. Default 1000. */
  compactEvery?: number
  /** Default timeout of `propose`, in ms. Default 10000. */
  proposeTimeoutMs?: number
  log?: (msg: string, fields?: object) => void
}

export interface ProposeOptions {
  /** Default: the node's `proposeTimeoutMs`. */
  timeoutMs?: number
}

export interface RaftNode {
  /** Resolves once the entry is committed and applied on this node. Fails with a RaftNodeError (or the leader's MeshRpcError). */
  propose(data: unknown, options?: ProposeOptions): Promise<{ index: number, term: number }>
  /**
   * On the leader: proposes a single-server membership change and resolves once it is applied
   * here. Fails with code `not_leader`, `busy` (a change or the leader's first commit is still
   * pending: try again shortly) or `invalid` (the change does not apply to the membership).
   */
  changeMembership(change: ConfChange, options?: ProposeOptions): Promise<{ index: number, term: number }>
  /** When this node last heard from `peer` over Raft (any message), epoch ms. */
  lastHeard(peer: string): number | undefined
  /** When this node became the leader (epoch ms), or null while it is not the leader. */
  leaderSince(): number | null
  /** On the leader: how far each member's log matches (see Raft.progress); {} elsewhere. */
  progress(): Record<string, PeerProgress>
  status(): Status
  /** The leader's peer id as this node knows it, or null. */
  leader(): string | null
  /** Stops ticking and serving, waits for the Ready being handled, closes the store. Does not stop the mesh. */
  close(): Promise<void>
}

interface Waiter {
  index: number
  term: number
  /** Known committed (the leader said so): a snapshot covering it means it was applied. */
  committed: boolean
  resolve: () => void
  reject: (err: Error) => void
}

function encodeData (data: unknown): ForwardedProposal {
  if (data instanceof Uint8Array) return { bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }
  return { data }
}

function decodeData (body: unknown): unknown {
  const b = body as { data?: unknown, bytes?: unknown } | null
  if (b === null || typeof b !== 'object') throw Object.assign(new Error('a proposal body is { data } or { bytes }'), { code: 'bad_request' })
  if (typeof b.bytes === 'string') return new Uint8Array(Buffer.from(b.bytes, 'base64'))
  if (b.data === undefined) throw Object.assign(new Error('a proposal carries no data'), { code: 'bad_request' })
  return b.data
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export async function startRaftNode (opts: RaftNodeOptions): Promise<RaftNode> {
  const { storage, transport } = opts
  const self = transport.self
  const tickMs = opts.tickMs ?? 100
  const electionTicks = opts.electionTicks ?? 10
  const compactEvery = opts.compactEvery ?? 1000
  const proposeTimeoutMs = opts.proposeTimeoutMs ?? 10_000
  const log = opts.log ?? (() => {})
  if (!(tickMs > 0)) throw new TypeError(`tickMs must be positive, got ${tickMs}`)
  if (!(Number.isInteger(compactEvery) && compactEvery > 0)) throw new TypeError(`compactEvery must be a positive integer, got ${compactEvery}`)

  // ---- restore from storage -----------------------------------------------------------------
  let raft: Raft
  let appliedIndex = 0
  let snapshotIndex = 0
  /** What was known committed before the restart: applied before `startRaftNode` resolves. */
  let storedCommit = 0
  try {
    const { hardState, snapshot, entries } = await storage.load()
    storedCommit = hardState?.commit ?? 0
    if (snapshot !== undefined) {
      if (opts.restore === undefined) throw new Error(`raft storage of ${self} holds a snapshot (index ${snapshot.index}) but no restore() was given`)
      await opts.restore(snapshot.data)
      appliedIndex = snapshotIndex = snapshot.index
    }
    raft = createRaft({
      id: self,
      voters: opts.voters,
      learners: opts.learners,
      electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      random: Math.random,
      storage: { hardState, snapshot, entries }
    })
    log('raft: started', { id: self, term: hardState?.term ?? 0, commit: hardState?.commit ?? 0, snapshot: snapshotIndex, entries: entries.length })
  } catch (err) {
    await storage.close().catch(() => {})
    throw err
  }

  let closed = false
  let failure: Error | null = null
  const waiters = new Map<number, Waiter[]>()
  const leaderWaiters = new Set<() => void>()
  let lastLeader: string | null = null
  let lastRole = ''
  let leaderSince: number | null = null

  const stoppedError = (): RaftNodeError => failure !== null
    ? new RaftNodeError('failed', `raft node ${self} stopped: ${failure.message}`)
    : new RaftNodeError('closed', `raft node ${self} is closed`)

  function rejectAll (err: Error): void {
    for (const list of waiters.values()) for (const w of list) w.reject(err)
    waiters.clear()
    for (const wake of leaderWaiters) wake()
    leaderWaiters.clear()
  }

  function fatal (err: unknown): void {
    if (failure !== null || closed) return
    failure = err instanceof Error ? err : new Error(String(err))
    log('raft: node stopped on an error', { error: failure.message })
    clearInterval(timer)
    rejectAll(stoppedError())
  }

  // ---- persistence ---------------------------------------------------------------------------
  async function persist (rd: Ready): Promise<void> {
    if (!rd.snapshotToApply && rd.entriesToPersist.length === 0 && !rd.hardState) return
    await storage.save({ snapshot: rd.snapshotToApply ?? undefined, entries: rd.entriesToPersist, hardState: rd.hardState ?? undefined })
  }

  async function maybeCompact (): Promise<void> {
    if (opts.snapshot === undefined || appliedIndex - snapshotIndex < compactEvery) return
    const snap = raft.compact(appliedIndex, opts.snapshot())
    if (snap === null) return
    await storage.compact(snap)
    snapshotIndex = snap.index
    log('raft: compacted', { index: snap.index, term: snap.term })
  }

  // ---- sending and receiving ----------------------------------------------------------------
  function deliver (body: { msgs?: unknown }, from: string): void {
    if (closed || failure !== null) return
    if (!Array.isArray(body?.msgs)) {
      log('raft: dropped a frame that is not { msgs: Message[] }', { peer: from })
      return
    }
    for (const m of body.msgs as Message[]) {
      if (m?.from !== from) {
        log('raft: dropped a message not from its sender', { peer: from, from: m?.from })
        continue
      }
      try {
        raft.step(m)
      } catch (err) {
        if (err instanceof RaftError && err.code === 'invalid_argument') {
          log('raft: dropped a malformed message', { peer: from, error: err.message })
          continue
        }
        fatal(err)
        return
      }
    }
    schedule()
  }

  function send (messages: Message[]): void {
    const byPeer = new Map<string, Message[]>()
    for (const m of messages) {
      const list = byPeer.get(m.to)
      if (list === undefined) byPeer.set(m.to, [m])
      else list.push(m)
    }
    for (const [peer, msgs] of byPeer) transport.send(peer, msgs)
  }

  // ---- the Ready loop ------------------------------------------------------------------------
  let loop: Promise<void> | null = null

  function schedule (): void {
    if (loop !== null || closed || failure !== null || !raft.hasReady()) return
    loop = runReadys().catch(fatal).finally(() => {
      loop = null
      schedule()
    })
  }

  function settle (entryIndex: number, entryTerm: number): void {
    const list = waiters.get(entryIndex)
    if (list === undefined) return
    waiters.delete(entryIndex)
    for (const w of list) {
      if (w.term === entryTerm) w.resolve()
      else w.reject(new RaftNodeError('dropped', `the proposal at index ${w.index} (term ${w.term}) was replaced by an entry of term ${entryTerm}: it did not commit`))
    }
  }

  async function runReadys (): Promise<void> {
    while (!closed && failure === null && raft.hasReady()) {
      const rd = raft.ready()
      const ss = rd.softState
      if (ss.leader !== lastLeader || ss.role !== lastRole) {
        if (ss.leader !== lastLeader) log('raft: leader', { leader: ss.leader, term: ss.term, role: ss.role })
        if (ss.role !== lastRole) leaderSince = ss.role === 'leader' ? Date.now() : null
        lastLeader = ss.leader
        lastRole = ss.role
        if (ss.leader !== null) {
          for (const wake of leaderWaiters) wake()
          leaderWaiters.clear()
        }
      }
      await persist(rd)
      if (closed) return
      send(rd.messages)
      if (rd.snapshotToApply) {
        const snap = rd.snapshotToApply
        if (opts.restore === undefined) throw new Error(`the leader sent a snapshot (index ${snap.index}) but no restore() was given`)
        await opts.restore(snap.data)
        appliedIndex = snapshotIndex = snap.index
        for (const [index, list] of waiters) {
          if (index > snap.index) continue
          waiters.delete(index)
          for (const w of list) {
            if (w.committed) w.resolve()
            else w.reject(new RaftNodeError('unknown_outcome', `a snapshot at index ${snap.index} replaced the log before the proposal at index ${w.index} was seen committed`))
          }
        }
      }
      for (const e of rd.committed) {
        if (e.index <= appliedIndex) continue
        if (e.type === 'normal') await opts.apply({ index: e.index, term: e.term, data: e.bytes === true ? entryBytes(e) : e.data })
        appliedIndex = e.index
      }
      raft.advance(rd)
      for (const e of rd.committed) settle(e.index, e.term)
      await maybeCompact()
    }
  }

  // ---- serving -------------------------------------------------------------------------------
  /** Resolves once this node applied (index, term); rejects at the deadline. */
  function waitApplied (index: number, term: number, committed: boolean, deadline: number, signal?: AbortSignal): Promise<void> {
    if (committed && appliedIndex >= index) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done()
        reject(new RaftNodeError('timeout', `the proposal at index ${index} (term ${term}) was not applied on ${self} in time (applied: ${appliedIndex}, commit: ${raft.status().commit}); it may still commit`))
      }, Math.max(0, deadline - Date.now()))
      const onAbort = (): void => { done(); reject(new RaftNodeError('timeout', 'the caller went away')) }
      const w: Waiter = {
        index,
        term,
        committed,
        resolve: () => { done(); resolve() },
        reject: err => { done(); reject(err) }
      }
      function done (): void {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const list = waiters.get(index)
        if (list !== undefined) {
          const i = list.indexOf(w)
          if (i >= 0) list.splice(i, 1)
          if (list.length === 0) waiters.delete(index)
        }
      }
      signal?.addEventListener('abort', onAbort)
      const list = waiters.get(index)
      if (list === undefined) waiters.set(index, [w])
      else list.push(w)
    })
  }

  /** Waits until some leader is known or `ms` passed; never rejects. */
  async function leaderOrWait (ms: number): Promise<void> {
    if (raft.status().leader !== null) return
    await new Promise<void>(resolve => {
      const t = setTimeout(wake, Math.max(0, ms))
      function wake (): void { clearTimeout(t); leaderWaiters.delete(wake); resolve() }
      leaderWaiters.add(wake)
    })
  }

  async function proposeForwarded (body: ForwardedProposal, signal?: AbortSignal): Promise<{ index: number, term: number }> {
    if (closed || failure !== null) throw Object.assign(stoppedError(), { code: 'unavailable' })
    const data = decodeData(body)
    const timeoutMs = typeof body.timeoutMs === 'number' && body.timeoutMs > 0 ? Math.min(body.timeoutMs, 10 * proposeTimeoutMs) : proposeTimeoutMs
    const r = raft.propose(data as object)
    if (!r.ok) throw Object.assign(new Error(`${self} is not the leader (it knows ${r.reason === 'not_leader' ? r.leader ?? 'no leader' : r.reason})`), { code: 'not_leader' })
    schedule()
    await waitApplied(r.index, r.term, false, Date.now() + timeoutMs, signal)
    return { index: r.index, term: r.term }
  }
  await transport.listen({ deliver, propose: proposeForwarded })

  // ---- ticking -------------------------------------------------------------------------------
  const timer = setInterval(() => {
    if (closed || failure !== null) return
    try {
      raft.tick()
    } catch (err) {
      fatal(err)
      return
    }
    schedule()
  }, tickMs)
  schedule()

  // ---- the API -------------------------------------------------------------------------------
  async function propose (data: unknown, options: ProposeOptions = {}): Promise<{ index: number, term: number }> {
    if (data === undefined) throw new TypeError('propose: data is undefined (proposals are JSON values or Uint8Arrays)')
    const timeoutMs = options.timeoutMs ?? proposeTimeoutMs
    const deadline = Date.now() + timeoutMs
    let unreachable: string | null = null
    for (;;) {
      if (closed || failure !== null) throw stoppedError()
      const r = raft.propose(data as object)
      if (r.ok) {
        schedule()
        await waitApplied(r.index, r.term, false, deadline)
        return { index: r.index, term: r.term }
      }
      if (r.reason !== 'not_leader') throw new Error(`propose: ${r.reason}: ${r.message}`)
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        const st = raft.status()
        throw new RaftNodeError('no_leader', unreachable !== null
          ? `no Raft leader reachable within ${timeoutMs} ms: the leader ${unreachable} could not be reached (${self} is ${st.role} at term ${st.term})`
          : `no Raft leader elected within ${timeoutMs} ms (${self} is ${st.role} at term ${st.term}, ${transport.peerCount()} peers connected)`)
      }
      if (r.leader === null || r.leader === self) {
        await leaderOrWait(Math.min(remaining, tickMs * electionTicks))
        continue
      }
      let answer: { index: number, term: number }
      try {
        answer = await transport.forward(r.leader, { ...encodeData(data), timeoutMs: remaining }, remaining)
      } catch (err) {
        const e = err as { code?: string, remote?: boolean, message?: string }
        // These never reached a leader's log: safe to try again once the leader is known anew.
        const notTaken = (e.remote === true && (e.code === 'not_leader' || e.code === 'unavailable')) ||
          e.code === 'unreachable' || e.code === 'no_handler'
        if (!notTaken) {
          if (e.remote === true || e.code === 'stopped') throw err
          throw new RaftNodeError('unknown_outcome', `forwarding the proposal to the leader ${r.leader} failed (${e.code ?? 'error'}: ${e.message}); it may or may not commit`)
        }
        if (e.code === 'unreachable') unreachable = r.leader
        await sleep(Math.min(tickMs, Math.max(0, deadline - Date.now())))
        continue
      }
      await waitApplied(answer.index, answer.term, true, deadline)
      return answer
    }
  }

  async function changeMembership (change: ConfChange, options: ProposeOptions = {}): Promise<{ index: number, term: number }> {
    if (closed || failure !== null) throw stoppedError()
    const r = raft.proposeConfChange(change)
    if (!r.ok) {
      if (r.reason === 'not_leader') throw new RaftNodeError('not_leader', `${self} is not the leader (the leader is ${r.leader ?? 'unknown'})`)
      throw new RaftNodeError(r.reason === 'busy' ? 'busy' : 'invalid', `membership change ${change.type} ${change.node}: ${r.message}`)
    }
    schedule()
    await waitApplied(r.index, r.term, false, Date.now() + (options.timeoutMs ?? proposeTimeoutMs))
    return { index: r.index, term: r.term }
  }

  // The state machine is whole again before anyone reads it: everything committed before the
  // restart is applied now, not at some later Ready.
  while (appliedIndex < storedCommit && failure === null && !closed) {
    schedule()
    await (loop ?? sleep(1))
  }
  if (failure !== null) throw stoppedError()

  // A node that is the only voter has nobody to wait for: it leads at once rather than after an
  // election timeout (a single-host dstackd is ready in milliseconds, not a second or two).
  const st0 = raft.status()
  if (st0.voters.length === 1 && st0.voters[0] === self) {
    raft.campaign()
    schedule()
  }

  return {
    propose,
    changeMembership,
    lastHeard: peer => transport.lastHeard(peer),
    leaderSince: () => leaderSince,
    progress: () => raft.progress() ?? {},
    status: () => raft.status(),
    leader: () => raft.status().leader,
    async close () {
      if (closed) return
      closed = true
      clearInterval(timer)
      await transport.close()
      await (loop ?? Promise.resolve()).catch(() => {})
      rejectAll(new RaftNodeError('closed', `raft node ${self} is closed`))
      await storage.close()
      log('raft: closed', { id: self })
    }
  }
}
