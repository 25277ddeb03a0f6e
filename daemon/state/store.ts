// The local log: every command is written to level before it is applied, so a daemon killed
// at any moment restarts with every command it acknowledged. On open, the latest snapshot is
// loaded and the entries after it are replayed. The mesh's Raft log takes this file's place
// on a multi-node cluster; the state machine does not change.
import { Level } from 'level'
import { apply, trimEvents, type ApplyResult, type Command } from './machine.ts'
import { emptyState, type State } from './types.ts'

export interface StateStore {
  readonly state: State
  /** Appends the command durably, applies it, and tells subscribers. */
  propose (cmd: Command): Promise<ApplyResult>
  /** Called after each applied command; returns an unsubscribe function. */
  subscribe (fn: (cmd: Command, result: ApplyResult) => void): () => void
  close (): Promise<void>
}

const SNAPSHOT_EVERY = 2000
const logKey = (index: number) => `log!${String(index).padStart(16, '0')}`

export async function openStore (dbPath: string): Promise<StateStore> {
  const db = new Level<string, unknown>(dbPath, { valueEncoding: 'json' })
  await db.open()
  const snapshot = await db.get('snapshot') as { state: State } | undefined
  const state: State = snapshot?.state ?? emptyState()
  for await (const [key, entry] of db.iterator({ gt: logKey(state.index), lt: 'log!~' })) {
    apply(state, entry as Command)
    state.index = Number(key.slice(4))
  }
  trimEvents(state)

  const listeners = new Set<(cmd: Command, result: ApplyResult) => void>()
  let tail: Promise<unknown> = Promise.resolve()
  let sinceSnapshot = 0

  async function append (cmd: Command): Promise<ApplyResult> {
    const index = state.index + 1
    await db.put(logKey(index), cmd)
    const result = apply(state, cmd)
    state.index = index
    trimEvents(state)
    if (++sinceSnapshot >= SNAPSHOT_EVERY) {
      sinceSnapshot = 0
      // Compaction: the snapshot replaces every entry up to its index.
      await db.batch([{ type: 'put', key: 'snapshot', value: { state } }])
      await db.clear({ lte: logKey(index), gte: 'log!' })
    }
    for (const fn of listeners) {
      try { fn(cmd, result) } catch { /* a listener's fault is its own */ }
    }
    return result
  }

  return {
    state,
    propose (cmd) {
      const next = tail.then(() => append(cmd))
      tail = next.catch(() => undefined)
      return next
    },
    subscribe (fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    async close () {
      await tail
      await db.close()
    }
  }
}
