// The in-memory Raft log: a snapshot (the compaction point) followed by the entries after it,
// the commit index, and the cursor that says which entries have not yet been handed out for
// persisting. Storage is the caller's; this only keeps what the core needs to decide.
import type { Entry, Snapshot } from './types.ts'
import { RaftError } from './errors.ts'

export const EMPTY_SNAPSHOT: Snapshot = { index: 0, term: 0, membership: { voters: [], learners: [] }, data: null }

export class RaftLog {
  /** The compaction point; `entries[k].index === snapshot.index + 1 + k`. */
  snapshot: Snapshot
  entries: Entry[]
  commit: number
  /** First index not yet handed out in a Ready for persisting. */
  unstable: number
  /** A snapshot received from the leader and not yet handed out. */
  pendingSnapshot: Snapshot | null = null

  constructor (snapshot: Snapshot, entries: Entry[], commit: number) {
    this.snapshot = snapshot
    const first = snapshot.index + 1
    this.entries = entries.filter(e => e.index >= first)
    this.entries.forEach((e, k) => {
      if (e.index !== first + k) throw new RaftError('corrupt_storage', `stored entries are not contiguous after snapshot ${snapshot.index}: expected ${first + k}, found ${e.index}`)
    })
    if (commit > this.lastIndex()) throw new RaftError('corrupt_storage', `stored commit ${commit} is past the last stored entry ${this.lastIndex()}`)
    this.commit = Math.max(commit, snapshot.index)
    this.unstable = this.lastIndex() + 1
  }

  firstIndex (): number { return this.snapshot.index + 1 }
  lastIndex (): number { return this.snapshot.index + this.entries.length }
  lastTerm (): number { return this.term(this.lastIndex())! }

  /** The term at `index`, or undefined when it is compacted away or not there yet. */
  term (index: number): number | undefined {
    const s = this.snapshot.index
    if (index === s) return this.snapshot.term
    if (index < s) return undefined
    return this.entries[index - s - 1]?.term
  }

  /** Entries in [lo, hi), all of which must be present. */
  slice (lo: number, hi: number): Entry[] {
    if (lo >= hi) return []
    const s = this.snapshot.index
    if (lo <= s || hi - 1 > this.lastIndex()) throw new RaftError('internal', `slice [${lo}, ${hi}) outside the log (${s}, ${this.lastIndex()}]`)
    return this.entries.slice(lo - s - 1, hi - s - 1)
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as this one? */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm()
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex())
  }

  /** The first entry of `ents` that is absent here or has another term; 0 when all match. */
  findConflict (ents: Entry[]): number {
    for (const e of ents) if (this.term(e.index) !== e.term) return e.index
    return 0
  }

  /**
   * The last index <= `index` whose term is <= `term`, with that term: where a leader whose entry
   * at `index` has `term` can next probe. A compacted index answers itself with term 0 (unknown).
   */
  findConflictByTerm (index: number, term: number): [number, number] {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i)
      if (t === undefined) return [i, 0]
      if (t <= term) return [i, t]
    }
    return [0, 0]
  }

  /** Appends `ents`, first dropping any entries from `ents[0].index` on. */
  append (ents: Entry[]): void {
    if (ents.length === 0) return
    const first = ents[0]!.index
    if (first <= this.commit) throw new RaftError('internal', `appending at ${first} would overwrite committed entries (commit ${this.commit})`)
    const last = this.lastIndex()
    if (first > last + 1) throw new RaftError('internal', `appending at ${first} leaves a gap after ${last}`)
    if (first <= last) {
      this.entries.length = first - this.snapshot.index - 1
      if (this.unstable > first) this.unstable = first
    }
    for (const e of ents) this.entries.push(e)
  }

  commitTo (index: number): boolean {
    if (index <= this.commit) return false
    if (index > this.lastIndex()) throw new RaftError('internal', `commit ${index} is past the last entry ${this.lastIndex()}`)
    this.commit = index
    return true
  }

  /** Replaces the whole log with a snapshot from the leader. */
  restore (snapshot: Snapshot): void {
    this.snapshot = snapshot
    this.entries = []
    this.commit = snapshot.index
    this.unstable = snapshot.index + 1
    this.pendingSnapshot = snapshot
  }

  /** Drops the entries up to `snapshot.index`, which the application has captured. */
  compact (snapshot: Snapshot): void {
    this.entries = this.entries.slice(snapshot.index - this.snapshot.index)
    this.snapshot = snapshot
  }

  /** Takes the entries not yet handed out for persisting. */
  takeUnstable (): Entry[] {
    const last = this.lastIndex()
    if (this.unstable > last) return []
    const out = this.slice(this.unstable, last + 1)
    this.unstable = last + 1
    return out
  }
}
