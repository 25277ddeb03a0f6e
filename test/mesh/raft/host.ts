// A Raft node as a real caller would host it, in memory: it keeps "disk" (only what a Ready told
// it to persist), a state machine (a hash chain over applied entries) and follows the Ready
// contract exactly. A crash throws away the Raft instance and everything not persisted; a restart
// builds a new one from the disk. The unit tests' network and the simulator share it.
import { createRaft, seededRandom, type Entry, type HardState, type Message, type NodeId, type Raft, type RaftConfig, type ReadState, type Snapshot } from '../../../mesh/raft/index.ts'

export interface Disk {
  hardState: HardState
  snapshot: Snapshot | undefined
  /** Contiguous entries; they may start at or below the snapshot index (kept after compaction). */
  entries: Entry[]
}

/** The state machine's snapshot: where it is and the hash chain up to there. */
export interface MachineState {
  index: number
  hash: number
}

export interface HostHooks {
  /** After the state machine applied `entry`, its hash now `hash`. */
  applied?(host: Host, entry: Entry, hash: number): void
  /** After the state machine was restored from a snapshot sent by the leader. */
  restored?(host: Host, snapshot: Snapshot): void
  /** Before a new hard state overwrites the stored one. */
  persisting?(host: Host, next: HardState, previous: HardState): void
  readState?(host: Host, read: ReadState): void
}

export type HostOptions = Omit<RaftConfig, 'id' | 'random' | 'storage' | 'applied'> & { seed: number }

export class Host {
  readonly id: NodeId
  /** Null while crashed. */
  raft: Raft | null = null
  disk: Disk = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: undefined, entries: [] }
  machine: MachineState = { index: 0, hash: 0 }
  /** Data of the normal entries applied since the last restart or snapshot, for tests that look. */
  appliedData: unknown[] = []
  /** Every ReadState handed out, for tests that look. */
  reads: ReadState[] = []
  private incarnation = 0

  /** `disk`: start from this stored state, as if the node had been running before. */
  constructor (id: NodeId, private readonly options: HostOptions, private readonly hooks: HostHooks = {}, disk?: Disk) {
    this.id = id
    if (disk) this.disk = { hardState: { ...disk.hardState }, snapshot: disk.snapshot, entries: [...disk.entries] }
    this.start()
  }

  get live (): boolean { return this.raft !== null }

  /** The Raft instance, which must be up. */
  get r (): Raft {
    if (!this.raft) throw new Error(`${this.id} is down`)
    return this.raft
  }

  crash (): void {
    this.raft = null
  }

  /** Builds a new Raft instance from the disk, as a restarted process would. */
  start (): void {
    const snapshot = this.disk.snapshot
    this.machine = snapshot ? { ...(snapshot.data as MachineState) } : { index: 0, hash: 0 }
    this.appliedData = []
    this.incarnation++
    this.raft = createRaft({
      ...this.options,
      id: this.id,
      random: seededRandom(this.options.seed * 7919 + this.incarnation),
      storage: { hardState: { ...this.disk.hardState }, snapshot, entries: [...this.disk.entries] }
    })
  }

  /** Handles one Ready as the contract says: persist, then send (returned), then apply, then advance. */
  handleReady (): Message[] {
    const raft = this.r
    const rd = raft.ready()
    const disk = this.disk
    // One synchronous batch, so atomic: a crash comes before or after all of it.
    if (rd.snapshotToApply) {
      disk.snapshot = rd.snapshotToApply
      disk.entries = []
    }
    if (rd.entriesToPersist.length > 0) {
      const first = rd.entriesToPersist[0]!.index
      const stored0 = disk.entries[0]?.index
      if (stored0 === undefined) {
        const expected = (disk.snapshot?.index ?? 0) + 1
        if (first !== expected) throw new Error(`${this.id}: persisting entries from ${first} onto an empty log that must start at ${expected}`)
      } else {
        const keep = first - stored0
        if (keep < 0 || keep > disk.entries.length) throw new Error(`${this.id}: persisting entries from ${first} onto stored [${stored0}, ${stored0 + disk.entries.length})`)
        disk.entries.length = keep
      }
      for (const e of rd.entriesToPersist) disk.entries.push(e)
    }
    if (rd.hardState) {
      this.hooks.persisting?.(this, rd.hardState, disk.hardState)
      disk.hardState = { ...rd.hardState }
    }
    if (rd.snapshotToApply) {
      this.machine = { ...(rd.snapshotToApply.data as MachineState) }
      this.appliedData = []
      this.hooks.restored?.(this, rd.snapshotToApply)
    }
    for (const e of rd.committed) {
      if (e.index !== this.machine.index + 1) throw new Error(`${this.id}: applying ${e.index} after ${this.machine.index}`)
      this.machine = { index: e.index, hash: chain(this.machine.hash, e) }
      if (e.type === 'normal') this.appliedData.push(e.data)
      this.hooks.applied?.(this, e, this.machine.hash)
    }
    for (const read of rd.readStates) {
      this.reads.push(read)
      this.hooks.readState?.(this, read)
    }
    raft.advance(rd)
    return rd.messages
  }

  /**
   * Compacts the log up to what was applied, storing the snapshot first; `dropStored` false keeps
   * the stored entries below it, as a process that crashed before deleting them would.
   */
  compact (dropStored = true): Snapshot | null {
    const snap = this.r.compact(this.machine.index, { ...this.machine })
    if (!snap) return null
    this.disk.snapshot = snap
    if (dropStored) this.disk.entries = this.disk.entries.filter(e => e.index > snap.index)
    return snap
  }
}

/** FNV-1a over the entry, chained onto the previous hash. */
export function chain (hash: number, e: Entry): number {
  const s = `${e.index}|${e.term}|${e.type}|${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}`
  let h = (hash ^ 0x811c9dc5) >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}
