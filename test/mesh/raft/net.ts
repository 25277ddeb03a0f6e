// A synchronous network for the focused tests: messages are delivered in order until nothing
// moves, except across links that are cut or that a filter drops. Time passes only by `tick`.
import type { Message, NodeId } from '../../../mesh/raft/index.ts'
import { Host, type Disk, type HostOptions } from './host.ts'

export interface NetOptions extends Partial<HostOptions> {
  learners?: NodeId[]
  /** What some nodes have on disk when the test starts. */
  disks?: Record<NodeId, Disk>
}

export class Net {
  readonly hosts = new Map<NodeId, Host>()
  /** Returns true to drop a message. */
  drop: ((m: Message) => boolean) | null = null
  /** Every message delivered, for tests that look at traffic. */
  readonly delivered: Message[] = []
  private readonly cuts = new Set<string>()
  private readonly options: HostOptions

  constructor (ids: NodeId[], options: NetOptions = {}) {
    const learners = options.learners ?? []
    const { disks: _, ...rest } = options
    this.options = { electionTicks: 10, heartbeatTicks: 1, seed: 1, ...rest, voters: ids.filter(id => !learners.includes(id)), learners }
    ids.forEach((id, k) => this.hosts.set(id, new Host(id, { ...this.options, seed: this.options.seed * 100 + k }, {}, options.disks?.[id])))
  }

  /** Starts a node that will join the existing cluster (it knows no members yet). */
  add (id: NodeId): Host {
    const host = new Host(id, { ...this.options, voters: [], learners: [], seed: this.options.seed * 100 + this.hosts.size })
    this.hosts.set(id, host)
    return host
  }

  host (id: NodeId): Host {
    const h = this.hosts.get(id)
    if (!h) throw new Error(`no node ${id}`)
    return h
  }

  /** The live leader of the highest term, if any. */
  leader (): Host | undefined {
    let best: Host | undefined
    for (const h of this.hosts.values()) {
      if (!h.live) continue
      const s = h.r.status()
      if (s.role === 'leader' && (!best || s.term > best.r.status().term)) best = h
    }
    return best
  }

  cutOneWay (from: NodeId, to: NodeId): void { this.cuts.add(`${from}>${to}`) }
  cut (a: NodeId, b: NodeId): void { this.cutOneWay(a, b); this.cutOneWay(b, a) }
  isolate (id: NodeId): void {
    for (const other of this.hosts.keys()) if (other !== id) this.cut(id, other)
  }

  heal (): void { this.cuts.clear() }

  /** Handles Readys and delivers messages until the cluster is quiet. */
  flush (): void {
    for (let round = 0; round < 100_000; round++) {
      const queue: Message[] = []
      for (const h of this.hosts.values()) {
        if (h.live && h.r.hasReady()) queue.push(...h.handleReady())
      }
      if (queue.length === 0) return
      for (const m of queue) this.deliver(m)
    }
    throw new Error('the network never went quiet')
  }

  private deliver (m: Message): void {
    const to = this.hosts.get(m.to)
    if (!to?.live || this.cuts.has(`${m.from}>${m.to}`) || this.drop?.(m)) return
    const copy = JSON.parse(JSON.stringify(m)) as Message
    this.delivered.push(copy)
    to.r.step(copy)
  }

  /** `n` ticks on every live node (or on `ids`), the network flushed after each. */
  tick (n = 1, ids?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const h of this.hosts.values()) {
        if (h.live && (!ids || ids.includes(h.id))) h.r.tick()
      }
      this.flush()
    }
  }

  /** Makes `id` campaign and settles the result. */
  elect (id: NodeId): Host {
    this.host(id).r.campaign()
    this.flush()
    return this.host(id)
  }
}
