// Where a Raft node keeps what must survive a crash: its hard state, its snapshot and the log
// after it (etcd's Storage, write side included). The node calls `save` once per Ready before
// anything of that Ready is sent or applied, so an implementation must make each call atomic
// and durable: after a kill -9 either all of it is there or none.
//
// `levelStorage` keeps it in LevelDB (one batch per call, fsync'd); `memoryStorage` in this
// process, for tests: it outlives the node that used it, so a test can "restart" a node on
// what was saved.
import { Level } from 'level'
import { RaftError } from './errors.ts'
import type { Entry, HardState, PersistedState, Snapshot } from './types.ts'

export interface RaftStorage {
  /** What was saved: the hard state, the snapshot and the entries after it, in order. */
  load (): Promise<PersistedState & { entries: Entry[] }>
  /**
   * One Ready's durable part, atomically: a snapshot (from the leader) replaces the whole
   * stored log; entries replace the stored ones from the first one's index on.
   */
  save (ready: { snapshot?: Snapshot, entries: Entry[], hardState?: HardState }): Promise<void>
  /** Stores a snapshot of the applied state and drops the entries it covers, atomically. */
  compact (snapshot: Snapshot): Promise<void>
  close (): Promise<void>
}

/** The stored entries' index range, contiguous; null when none are stored. */
type Range = { first: number, last: number } | null

/** Which stored indexes a save drops and what range is stored after it (both storages share it). */
function plan (stored: Range, ready: { snapshot?: Snapshot, entries: Entry[] }): { drop: Range, stored: Range } {
  let drop: Range = null
  if (ready.snapshot !== undefined) {
    drop = stored
    stored = null
  }
  if (ready.entries.length > 0) {
    const first = ready.entries[0]!.index
    const last = ready.entries[ready.entries.length - 1]!.index
    if (stored === null) {
      stored = { first, last }
    } else {
      if (first > stored.last + 1) throw new RaftError('internal', `persisting entries from ${first} after stored entries ending at ${stored.last}`)
      if (first <= stored.last) drop = { first: Math.max(first, stored.first), last: stored.last }
      stored = { first: Math.min(first, stored.first), last }
    }
  }
  return { drop, stored }
}

function compactPlan (stored: Range, snapshot: Snapshot): { drop: Range, stored: Range } {
  if (stored === null) return { drop: null, stored }
  const upTo = Math.min(snapshot.index, stored.last)
  if (upTo < stored.first) return { drop: null, stored }
  return { drop: { first: stored.first, last: upTo }, stored: upTo >= stored.last ? null : { first: upTo + 1, last: stored.last } }
}

const HARD_STATE_KEY = 'hs'
const SNAPSHOT_KEY = 'snap'
const entryKey = (index: number): string => `e:${String(index).padStart(16, '0')}`

type BatchOp = { type: 'put', key: string, value: unknown } | { type: 'del', key: string }

export interface LevelStorageOptions {
  /** fsync each batch. Default true; false survives kill -9 but not a power cut. */
  sync?: boolean
}

/** Raft's durable state in the LevelDB directory `path` (its LOCK is exclusive per process). */
export async function levelStorage (path: string, options: LevelStorageOptions = {}): Promise<RaftStorage> {
  const sync = options.sync ?? true
  const db = new Level<string, unknown>(path, { valueEncoding: 'json' })
  await db.open()
  let stored: Range = null
  const dropOps = (r: Range): BatchOp[] => {
    const ops: BatchOp[] = []
    if (r !== null) for (let i = r.first; i <= r.last; i++) ops.push({ type: 'del', key: entryKey(i) })
    return ops
  }
  return {
    async load () {
      stored = null
      const hardState = await db.get(HARD_STATE_KEY) as HardState | undefined
      const snapshot = await db.get(SNAPSHOT_KEY) as Snapshot | undefined
      const entries: Entry[] = []
      for await (const [key, value] of db.iterator({ gt: 'e:', lt: 'e;' })) {
        const e = value as Entry
        if (entryKey(e.index) !== key) throw new Error(`raft store ${path}: entry under ${key} says index ${e.index}`)
        if (stored !== null && e.index !== stored.last + 1) throw new Error(`raft store ${path}: entries jump from ${stored.last} to ${e.index}`)
        stored = stored === null ? { first: e.index, last: e.index } : { first: stored.first, last: e.index }
        entries.push(e)
      }
      return { hardState, snapshot, entries }
    },
    async save (ready) {
      const p = plan(stored, ready)
      const ops = dropOps(p.drop)
      if (ready.snapshot !== undefined) ops.push({ type: 'put', key: SNAPSHOT_KEY, value: ready.snapshot })
      for (const e of ready.entries) ops.push({ type: 'put', key: entryKey(e.index), value: e })
      if (ready.hardState !== undefined) ops.push({ type: 'put', key: HARD_STATE_KEY, value: ready.hardState })
      if (ops.length > 0) await db.batch(ops as any, { sync })
      stored = p.stored
    },
    async compact (snapshot) {
      const p = compactPlan(stored, snapshot)
      await db.batch([{ type: 'put', key: SNAPSHOT_KEY, value: snapshot }, ...dropOps(p.drop)] as any, { sync })
      stored = p.stored
    },
    async close () {
      await db.close()
    }
  }
}

export interface MemoryStorage extends RaftStorage {
  /** Copies of what is stored now (for assertions). */
  readonly saved: { hardState?: HardState, snapshot?: Snapshot, entries: Entry[] }
}

/**
 * Raft's durable state in this process's memory: copies in, copies out, as a disk would. It
 * outlives `close`, so a node can be started again on it.
 */
export function memoryStorage (): MemoryStorage {
  let hardState: HardState | undefined
  let snapshot: Snapshot | undefined
  let entries: Entry[] = []
  const copy = <T>(v: T): T => structuredClone(v)
  const range = (): Range => entries.length === 0 ? null : { first: entries[0]!.index, last: entries[entries.length - 1]!.index }
  return {
    get saved () { return copy({ hardState, snapshot, entries }) },
    async load () { return copy({ hardState, snapshot, entries }) },
    async save (ready) {
      const p = plan(range(), ready)
      if (ready.snapshot !== undefined) snapshot = copy(ready.snapshot)
      if (p.drop !== null) entries = entries.filter(e => e.index < p.drop!.first || e.index > p.drop!.last)
      entries.push(...copy(ready.entries))
      if (ready.hardState !== undefined) hardState = copy(ready.hardState)
    },
    async compact (snap) {
      const p = compactPlan(range(), snap)
      snapshot = copy(snap)
      if (p.drop !== null) entries = entries.filter(e => e.index > p.drop!.last)
    },
    async close () {}
  }
}
