// The replicated state: the state machine (machine.ts) fed by the Raft log of the mesh. Every
// node holds the whole state in memory and serves reads from it; a write is proposed to Raft
// (forwarded to the leader from any other node) and acknowledged once it is committed and
// applied here. A single host is a cluster of one voter: the same code, no special case.
//
// Durability is Raft's (mesh/raft/node.ts): every entry is in its storage (LevelDB, on a host)
// before it is applied, and the state is snapshotted every `snapshotEvery` entries. A daemon
// killed at any moment restarts with every command it acknowledged. The snapshot holds only
// what retention keeps (state/retention.ts), so it stays bounded as the fleet's history grows.
//
// The store sees Raft's storage and transport only as interfaces: a host passes LevelDB and
// the mesh (levelStorage, meshTransport), a test in-memory ones (memoryStorage, memoryNetwork).
import { CodedError } from '../../mesh/errors.ts'
import { RaftNodeError, startRaftNode, type RaftNode } from '../../mesh/raft/node.ts'
import type { RaftStorage } from '../../mesh/raft/storage.ts'
import type { RaftTransport } from '../../mesh/raft/transport.ts'
import { apply, trimEvents, type ApplyResult, type Command } from './machine.ts'
import { emptyState, upgradeState, type State } from './types.ts'

export interface StateStore {
  readonly state: State
  /** Proposes the command; resolves once it is committed and applied on this node. */
  propose (cmd: Command): Promise<ApplyResult>
  /** Called after each applied command, and with null when a snapshot replaced the state; returns an unsubscribe function. */
  subscribe (fn: (cmd: Command | null, result: ApplyResult | null) => void): () => void
  close (): Promise<void>
}

export interface ReplicatedStore extends StateStore {
  /** The Raft node under the store: roles, terms, membership. */
  readonly raft: RaftNode
}

/** The store could not take a write: no leader (a minority partition, or a mesh without quorum). */
export class StoreError extends CodedError<'unavailable' | 'timeout' | 'closed'> {
  override name = 'StoreError'
}

export interface StoreOptions {
  /** Where Raft keeps the log, the hard state and the snapshot. */
  storage: RaftStorage
  /** How this node reaches the other members; its `self` is this node's id. */
  transport: RaftTransport
  /** Start a new cluster with this node as its only voter (else wait to be added by a leader). */
  bootstrap: boolean
  /** Snapshot the state after this many entries (default 2000). */
  snapshotEvery?: number
  /** Milliseconds per Raft tick (default 100). */
  tickMs?: number
  /** Ticks of silence before a voter stands for election, drawn from [n, 2n) (default 8: 0.8–1.6 s). */
  electionTicks?: number
  /** How long a write may wait for a leader, in ms (default 10 s). */
  proposeTimeoutMs?: number
  log?: (msg: string, fields?: object) => void
}

/** Results of recent local proposals, by log index, until their proposer collects them. */
const MAX_RESULTS = 10_000

export async function openStore (opts: StoreOptions): Promise<ReplicatedStore> {
  let state: State = emptyState()
  const listeners = new Set<(cmd: Command | null, result: ApplyResult | null) => void>()
  const results = new Map<number, ApplyResult>()

  const raft = await startRaftNode({
    storage: opts.storage,
    transport: opts.transport,
    voters: opts.bootstrap ? [opts.transport.self] : [],
    tickMs: opts.tickMs,
    electionTicks: opts.electionTicks ?? 8,
    // Heartbeats every third tick: a leader of fifty hosts sends about 160 a second, not 500.
    heartbeatTicks: 3,
    compactEvery: opts.snapshotEvery ?? 2000,
    proposeTimeoutMs: opts.proposeTimeoutMs,
    log: opts.log,
    apply (entry) {
      const cmd = entry.data as Command
      const result = apply(state, cmd, { index: entry.index, term: entry.term })
      state.index = entry.index
      trimEvents(state)
      results.set(entry.index, result)
      if (results.size > MAX_RESULTS) results.delete(results.keys().next().value!)
      for (const fn of listeners) {
        try { fn(cmd, result) } catch { /* a listener's fault is its own */ }
      }
    },
    // The state is plain JSON: a copy, so the snapshot is not changed by later entries while stored.
    snapshot: () => structuredClone(state),
    restore (data) {
      state = upgradeState(data as State)
      for (const fn of listeners) {
        try { fn(null, null) } catch { /* as above */ }
      }
    }
  })

  return {
    get state () { return state },
    raft,
    async propose (cmd) {
      let index: number
      try {
        index = (await raft.propose(cmd)).index
      } catch (err) {
        throw storeError(err, raft)
      }
      const result = results.get(index)
      results.delete(index)
      // Applied, but its result was not kept here (a snapshot covered it): it committed.
      return result ?? { ok: true, events: [], run: cmd.type === 'run.submit' ? state.runs[cmd.run.id] : undefined }
    },
    subscribe (fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    async close () {
      await raft.close()
    }
  }
}

/** Raft's reasons, in words a user can act on. */
function storeError (err: unknown, raft: RaftNode): Error {
  if (!(err instanceof RaftNodeError)) return err as Error
  const st = raft.status()
  const voters = `${st.voters.length} voter${st.voters.length === 1 ? '' : 's'}`
  if (err.code === 'no_leader') {
    return new StoreError('unavailable', `no leader: this node cannot reach a majority of the mesh's ${voters} (a partition, or too many hosts down); the change was not made. Retry when the hosts are back, or point the client at a node on the majority side.`)
  }
  if (err.code === 'timeout' || err.code === 'unknown_outcome') {
    return new StoreError('timeout', `the change was sent to the leader but not confirmed in time (${err.message}); check with \`dstack ps\` before retrying`)
  }
  if (err.code === 'closed' || err.code === 'failed') return new StoreError('closed', `this node is shutting down: ${err.message}`)
  return err
}
