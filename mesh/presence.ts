// Presence: every node publishes a small record of itself on a gossip topic, on change and every
// `intervalMs` (rarely, once settled), with a sequence number; every node keeps the latest record
// of each peer and when it last heard from it. A peer silent for `ttlMs` is not alive. Soft state
// only: what a record carries (a host's inventory, say) is the caller's; nothing here is ever
// voted on.
//
//   const presence = startPresence({ mesh, topic: 'dstack/hosts/1', ttlMs: 3000, intervalMs: 1000 })
//   presence.set({ cpus: 8 })                // published now and at every interval
//   presence.alive(peerId); presence.records(); presence.on(change)
import type { Mesh } from './index.ts'

export interface PresenceRecord<T> {
  peer: string
  /** The publisher's sequence number: records arrive out of order, the highest wins. */
  seq: number
  /** When this node last heard from the peer (its own clock). */
  seenAt: number
  data: T
}

export interface Presence<T> {
  /** Replaces this node's record and publishes it at once. */
  set (data: T): void
  /** Every peer heard from (this node included), alive or not. */
  records (): Array<PresenceRecord<T>>
  get (peer: string): PresenceRecord<T> | undefined
  /** Heard from within the TTL. This node is always alive. */
  alive (peer: string): boolean
  /** Called when a peer's record changes or a peer goes silent or comes back. */
  on (fn: (peer: string) => void): () => void
  close (): void
}

export interface PresenceOptions {
  mesh: Mesh
  topic: string
  /** How long a peer may be silent before it is not alive, in ms. Default 3000. */
  ttlMs?: number
  /** How often this node re-publishes its record, in ms. Default 1000. */
  intervalMs?: number
  /**
   * True once this node's record is known where it matters (daemon/node.ts: the leader has
   * registered the host). A settled node re-publishes only every `SETTLED_FACTOR` intervals and
   * not on each new connection: in a big mesh every publish reaches every node, so the idle
   * traffic would otherwise grow with the square of the hosts. Changes still go out at once.
   */
  settled?: () => boolean
  /** Rejects a record's data before it is kept (returns a reason). */
  check?: (data: unknown) => string | null
  log?: (msg: string, fields?: object) => void
}

interface Wire { v: 1, seq: number, data: unknown }

/** A settled node re-publishes every this many intervals. */
const SETTLED_FACTOR = 6
/** How soon a record nobody received goes out again, in ms. */
const RETRY_MS = 100

export function startPresence<T> (opts: PresenceOptions): Presence<T> {
  const { mesh, topic } = opts
  const ttlMs = opts.ttlMs ?? 3000
  const intervalMs = opts.intervalMs ?? 1000
  const self = mesh.peerId
  const records = new Map<string, PresenceRecord<T>>()
  const wasAlive = new Map<string, boolean>()
  const listeners = new Set<(peer: string) => void>()
  // The sequence restarts from the clock, so a restarted node's records are never taken as old.
  let seq = Date.now() * 1000
  let mine: T | undefined
  let closed = false
  let publishedAt = 0
  let retry: NodeJS.Timeout | undefined
  const settled = (): boolean => opts.settled?.() === true

  const notify = (peer: string): void => {
    for (const fn of listeners) {
      try { fn(peer) } catch { /* a listener's fault is its own */ }
    }
  }

  function publish (): void {
    if (mine === undefined || closed) return
    const r: PresenceRecord<T> = { peer: self, seq: ++seq, seenAt: Date.now(), data: mine }
    records.set(self, r)
    publishedAt = r.seenAt
    // Connected, but no peer's subscription has arrived yet: nobody got it. An unsettled node
    // tries again shortly rather than at the next interval (a joining host shows up sooner).
    const missed = (): void => {
      if (closed || settled() || retry !== undefined || mesh.peers().length === 0) return
      retry = setTimeout(() => { retry = undefined; publish() }, RETRY_MS)
    }
    mesh.publish(topic, { v: 1, seq: r.seq, data: mine } satisfies Wire).then(n => { if (n === 0) missed() }, missed)
  }

  const unsubscribe = mesh.subscribe(topic, (value: Wire, meta) => {
    if (value === null || typeof value !== 'object' || value.v !== 1 || !Number.isSafeInteger(value.seq)) {
      opts.log?.('presence: dropped a malformed record', { from: meta.from })
      return
    }
    const problem = opts.check?.(value.data) ?? null
    if (problem !== null) {
      opts.log?.('presence: dropped a record', { from: meta.from, problem })
      return
    }
    const old = records.get(meta.from)
    if (old !== undefined && old.seq >= value.seq) return
    records.set(meta.from, { peer: meta.from, seq: value.seq, seenAt: Date.now(), data: value.data as T })
    const changed = old === undefined || JSON.stringify(old.data) !== JSON.stringify(value.data) || wasAlive.get(meta.from) === false
    wasAlive.set(meta.from, true)
    if (changed) notify(meta.from)
  })

  // Re-publish on every interval, and notice peers that went silent.
  const timer = setInterval(() => {
    if (!settled() || Date.now() - publishedAt >= SETTLED_FACTOR * intervalMs - intervalMs / 2) publish()
    for (const r of records.values()) {
      const now = alive(r.peer)
      if (wasAlive.get(r.peer) !== now) {
        wasAlive.set(r.peer, now)
        if (!now) opts.log?.('presence: peer silent', { peer: r.peer, silentMs: Date.now() - r.seenAt })
        notify(r.peer)
      }
    }
  }, intervalMs)
  // New subscribers learn of us at once instead of at the next interval.
  const offConnect = mesh.on('peer:connect', () => { if (!settled()) setTimeout(publish, 50) })

  function alive (peer: string): boolean {
    if (peer === self) return true
    const r = records.get(peer)
    return r !== undefined && Date.now() - r.seenAt <= ttlMs
  }

  return {
    set (data) {
      mine = data
      publish()
      notify(self)
    },
    records: () => [...records.values()],
    get: peer => records.get(peer),
    alive,
    on (fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    close () {
      closed = true
      clearInterval(timer)
      clearTimeout(retry)
      offConnect()
      unsubscribe()
    }
  }
}
