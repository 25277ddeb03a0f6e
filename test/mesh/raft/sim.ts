// A deterministic simulator for the Raft core. One seed fixes everything: the cluster, the fault
// profile and every choice along the way. Each step of virtual time it ticks clocks (some run
// slow), delivers or drops, delays, duplicates and reorders messages, cuts and heals links (both
// ways or one way), crashes nodes (losing all they had not persisted) and restarts them from disk,
// proposes entries at random nodes (forwarding to the leader they name), asks for linearizable
// reads, compacts logs, and changes membership (add learner, promote, demote, remove — leader
// included). After every single call into a node it checks safety:
//   Election Safety       at most one leader per term;
//   Log Matching          a committed index has one term, on every node, forever;
//   Leader Completeness   a new leader holds every entry committed before it was elected;
//   State Machine Safety  every node applies the same entry at each index, so the same hash chain;
//                         a snapshot restores exactly the state others had at its index;
//   persistence           a node's stored term never goes back, and it never votes twice in a term
//                         (counting the votes it sent, across crashes);
//   no duplicates         a proposal is applied at one index at most;
//   ReadIndex             a confirmed read index covers everything committed before the read began.
// Then it heals everything, restarts every node that is still a member, and requires progress:
// a leader, and a fresh entry applied by every member of its configuration.
import { seededRandom, type ConfChange, type Entry, type Message, type NodeId } from '../../../mesh/raft/index.ts'
import { Host, type HostHooks, type MachineState } from './host.ts'

export interface SimOptions {
  seed: number
  /** Initial voters (3 or 5) and learners. */
  voters: number
  learners?: number
  /** Steps with faults and client traffic. */
  steps: number
  /**
   * After healing, the cluster must reach a leader that every member has caught up with, and may
   * not go this many steps without some node applying or appending something new. Default 400.
   */
  stallSteps?: number
  /** Keep a line per delivered message in the trace (slow; for reproducing one seed). */
  verbose?: boolean
}

export interface SimStats {
  steps: number
  leaders: number
  maxTerm: number
  committed: number
  crashes: number
  partitions: number
  snapshotsInstalled: number
  compactions: number
  membershipChanges: number
  leaderRemovals: number
  readsConfirmed: number
  delivered: number
  dropped: number
}

export class SimFailure extends Error {
  constructor (readonly seed: number, readonly step: number, readonly reason: string, readonly trace: string[]) {
    super(`seed ${seed}, step ${step}: ${reason}\n  reproduce: RAFT_SEED=${seed} node scripts/test.js raft/sim\n  last events:\n    ${trace.join('\n    ')}`)
    this.name = 'SimFailure'
  }
}

interface Profile {
  drop: number
  duplicate: number
  maxDelay: number
  partitionRate: number
  healRate: number
  crashRate: number
  /** A node crashes right after persisting a Ready, before sending or applying anything. */
  crashInReady: number
  /** A new leader is crashed within an election timeout of taking over. */
  leaderCrash: number
  /** A node stops (a GC pause, a stalled disk): no ticks, no messages in or out, then goes on. */
  pauseRate: number
  /** A message is held up for up to 40 steps. */
  longDelay: number
  proposeRate: number
  compactRate: number
  confRate: number
  readRate: number
  readyRate: number
  tickRate: number
}

interface InFlight { due: number, m: Message }

export function simulate (options: SimOptions): SimStats {
  return new Sim(options).run()
}

class Sim {
  private readonly rand: () => number
  private now = 0
  private readonly hosts = new Map<NodeId, Host>()
  private readonly downUntil = new Map<NodeId, number>()
  private readonly pausedUntil = new Map<NodeId, number>()
  private readonly crashAt = new Map<NodeId, number>()
  /** Removed from the cluster (committed) and shut down for good. */
  private readonly retired = new Set<NodeId>()
  private spares: NodeId[] = []
  private network: InFlight[] = []
  private readonly cuts = new Set<string>()
  private readonly profile: Profile
  private readonly hostOptions: { preVote: boolean, checkQuorum: boolean, electionTicks: number, heartbeatTicks: number, maxEntriesPerMessage: number, maxInflightMessages: number }
  private readonly hooks: HostHooks

  // What the whole cluster has committed, as observed so far.
  private readonly leaderOfTerm = new Map<number, NodeId>()
  private readonly votes = new Map<string, NodeId>()
  private readonly committedTerm: number[] = []
  /** The term a node was in when it was first seen to hold each index committed: at or after the term that committed it. */
  private readonly committedBy: number[] = []
  private readonly committedKey: string[] = []
  private readonly hashAt: number[] = []
  private readonly indexOfValue = new Map<string, number>()
  private globalCommit = 0
  private readonly seenCommit = new Map<NodeId, number>()
  private readonly seenRole = new Map<NodeId, string>()
  private readonly pendingReads = new Map<string, { node: NodeId, atLeast: number }>()
  private readonly pendingRemovals: Array<{ node: NodeId, index: number, term: number, leader: boolean }> = []
  private proposals = 0
  private settling = false
  private readonly trace: string[] = []
  private readonly stats: SimStats = { steps: 0, leaders: 0, maxTerm: 0, committed: 0, crashes: 0, partitions: 0, snapshotsInstalled: 0, compactions: 0, membershipChanges: 0, leaderRemovals: 0, readsConfirmed: 0, delivered: 0, dropped: 0 }

  constructor (private readonly options: SimOptions) {
    this.rand = seededRandom(options.seed)
    const pick = <T>(xs: T[]): T => xs[Math.floor(this.rand() * xs.length)]!
    this.profile = {
      drop: pick([0, 0.01, 0.05, 0.15, 0.3]),
      duplicate: pick([0, 0.02, 0.1]),
      maxDelay: 1 + Math.floor(this.rand() * 5),
      partitionRate: pick([0, 0.01, 0.03, 0.06]),
      healRate: pick([0.02, 0.05, 0.1]),
      crashRate: pick([0, 0.005, 0.02, 0.04]),
      crashInReady: pick([0, 0.001, 0.005]),
      leaderCrash: pick([0, 0, 0.1, 0.3]),
      pauseRate: pick([0, 0.01, 0.03]),
      longDelay: pick([0, 0.005, 0.02]),
      proposeRate: pick([0.2, 0.5, 1, 2]),
      compactRate: pick([0, 0.02, 0.1]),
      confRate: pick([0, 0.01, 0.04]),
      readRate: pick([0, 0.05, 0.2]),
      readyRate: pick([1, 0.8, 0.5]),
      tickRate: pick([1, 0.9, 0.7])
    }
    const electionTicks = pick([4, 5, 10])
    this.hostOptions = {
      preVote: this.rand() < 0.85,
      checkQuorum: this.rand() < 0.85,
      electionTicks,
      heartbeatTicks: pick([1, 1, 2]),
      maxEntriesPerMessage: pick([1, 2, 16, 256]),
      maxInflightMessages: pick([1, 4, 64])
    }
    this.hooks = {
      applied: (h, e, hash) => this.onApplied(h, e, hash),
      restored: (h, s) => {
        this.stats.snapshotsInstalled++
        const m = s.data as MachineState
        if (this.hashAt[s.index] === undefined) this.fail(`${h.id} restored a snapshot at ${s.index} that no node applied`)
        if (this.hashAt[s.index] !== m.hash) this.fail(`State Machine Safety: ${h.id} restored a snapshot at ${s.index} with hash ${m.hash}, others had ${this.hashAt[s.index]}`)
        this.recordCommittedTerm(h, s.index, s.term)
      },
      persisting: (h, next, prev) => {
        if (next.term < prev.term) this.fail(`${h.id} persisted term ${next.term} after ${prev.term}`)
        if (next.term === prev.term && prev.vote !== null && next.vote !== prev.vote) this.fail(`${h.id} voted for ${prev.vote} and then ${next.vote} in term ${next.term}`)
        if (next.commit < prev.commit) this.fail(`${h.id} persisted commit ${next.commit} after ${prev.commit}`)
      },
      readState: (h, read) => {
        const p = this.pendingReads.get(read.context)
        if (!p || p.node !== h.id) return this.fail(`${h.id} confirmed read ${read.context} it was never asked for`)
        this.pendingReads.delete(read.context)
        if (read.index < p.atLeast) this.fail(`ReadIndex: ${h.id} confirmed read ${read.context} at index ${read.index}, but ${p.atLeast} was committed before it began`)
        this.stats.readsConfirmed++
      }
    }

    const v = options.voters
    const l = options.learners ?? 0
    const ids = Array.from({ length: v + l }, (_, k) => `n${k + 1}`)
    const voters = ids.slice(0, v)
    const learners = ids.slice(v)
    this.spares = Array.from({ length: 4 }, (_, k) => `n${v + l + k + 1}`)
    for (const id of ids) this.hosts.set(id, new Host(id, { ...this.hostOptions, voters, learners, seed: options.seed * 31 + Number(id.slice(1)) }, this.hooks))
    this.note(`seed ${options.seed}: voters ${voters.join(',')} learners ${learners.join(',') || '-'}; ${JSON.stringify(this.profile)} ${JSON.stringify(this.hostOptions)}`)
  }

  run (): SimStats {
    try {
      return this.runUnguarded()
    } catch (err) {
      if (err instanceof SimFailure) throw err
      // An invariant the core checks itself (it throws RaftError 'internal'), or a crash.
      return this.fail(`threw ${(err as Error).stack ?? String(err)}`)
    }
  }

  private runUnguarded (): SimStats {
    for (this.now = 1; this.now <= this.options.steps; this.now++) {
      this.faults()
      this.tickAll()
      this.deliver()
      this.clients()
      this.readies()
      this.retireRemoved()
    }
    this.settle()
    this.stats.steps = this.now
    this.stats.committed = this.globalCommit
    return this.stats
  }

  // ---- one step -----------------------------------------------------------------------------

  private faults (): void {
    const p = this.profile
    if (this.rand() < p.partitionRate) this.partition()
    if (this.cuts.size > 0 && this.rand() < p.healRate) {
      if (this.rand() < 0.5) { this.cuts.clear(); this.note('heal all') } else {
        const cut = [...this.cuts][Math.floor(this.rand() * this.cuts.size)]!
        this.cuts.delete(cut)
        this.note(`heal ${cut}`)
      }
    }
    if (this.rand() < p.crashRate) {
      const live = this.activeHosts()
      const leader = live.find(h => h.r.status().role === 'leader')
      const victim = leader && this.rand() < 0.4 ? leader : live[Math.floor(this.rand() * live.length)]
      if (victim) this.crash(victim)
    }
    for (const [id, at] of this.crashAt) {
      if (at > this.now) continue
      this.crashAt.delete(id)
      const h = this.hosts.get(id)!
      if (h.live) this.crash(h)
    }
    if (this.rand() < p.pauseRate) {
      const live = this.activeHosts()
      const leader = live.find(h => h.r.status().role === 'leader')
      const victim = leader && this.rand() < 0.4 ? leader : live[Math.floor(this.rand() * live.length)]
      if (victim) {
        this.pausedUntil.set(victim.id, this.now + 3 + Math.floor(this.rand() * 40))
        this.note(`pause ${victim.id}`)
      }
    }
    for (const [id, until] of this.pausedUntil) {
      if (until <= this.now) { this.pausedUntil.delete(id); this.note(`resume ${id}`) }
    }
    for (const [id, until] of this.downUntil) {
      if (until <= this.now) this.restart(id)
    }
  }

  private crash (h: Host): void {
    // Half the time the process dies just after its last write reached the disk: what it
    // persisted survives, the messages it was about to send do not.
    if (h.r.hasReady() && this.rand() < 0.5) h.handleReady()
    h.crash()
    this.pausedUntil.delete(h.id)
    this.downUntil.set(h.id, this.now + 5 + Math.floor(this.rand() * 60))
    this.stats.crashes++
    this.note(`crash ${h.id}`)
  }

  private partition (): void {
    const ids = [...this.hosts.keys()].filter(id => !this.retired.has(id))
    const leader = this.activeHosts().find(h => h.r.status().role === 'leader')?.id
    const kind = Math.floor(this.rand() * 5)
    const one = kind >= 3 && leader ? leader : ids[Math.floor(this.rand() * ids.length)]!
    this.stats.partitions++
    if (kind === 0 || kind === 3) {
      for (const o of ids) if (o !== one) { this.cuts.add(`${one}>${o}`); this.cuts.add(`${o}>${one}`) }
      this.note(`isolate ${one}`)
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.rand() < 0.5))
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cuts.add(`${a}>${b}`)
      this.note(`split {${[...side].join(',')}} | rest`)
    } else {
      // One way only: `one` can still hear (kind 2) or still speak (kind 4), but not both.
      const outbound = kind === 4 ? this.rand() < 0.5 : true
      const others = ids.filter(o => o !== one && this.rand() < 0.7)
      for (const o of others) this.cuts.add(outbound ? `${one}>${o}` : `${o}>${one}`)
      this.note(`one-way cut ${outbound ? `${one} -> {${others.join(',')}}` : `{${others.join(',')}} -> ${one}`}`)
    }
  }

  private restart (id: NodeId): void {
    this.downUntil.delete(id)
    const h = this.hosts.get(id)!
    if (this.retired.has(id) || h.live) return
    h.start()
    this.seenCommit.set(id, h.r.status().commit)
    this.seenRole.set(id, 'follower')
    this.note(`restart ${id} (term ${h.r.status().term}, commit ${h.r.status().commit}, snapshot ${h.disk.snapshot?.index ?? 0}, ${h.disk.entries.length} entries on disk)`)
  }

  private tickAll (): void {
    for (const h of this.hosts.values()) {
      if (h.live && !this.pausedUntil.has(h.id) && this.rand() < this.profile.tickRate) {
        h.r.tick()
        this.observe(h)
      }
    }
  }

  private deliver (): void {
    const due: InFlight[] = []
    const later: InFlight[] = []
    for (const f of this.network) (f.due <= this.now && !this.pausedUntil.has(f.m.to) ? due : later).push(f)
    this.network = later
    // While settling, links behave like TCP: messages arrive in the order they were sent.
    for (let i = this.settling ? 0 : due.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1))
      const t = due[i]!; due[i] = due[j]!; due[j] = t
    }
    for (const { m } of due) {
      const to = this.hosts.get(m.to)
      if (!to?.live || this.cuts.has(`${m.from}>${m.to}`)) { this.stats.dropped++; continue }
      this.stats.delivered++
      if (this.options.verbose) this.note(`deliver ${describe(m)}`)
      // Nodes must share nothing; now and then the copy goes through JSON, as on the wire.
      to.r.step(this.rand() < 0.05 ? JSON.parse(JSON.stringify(m)) as Message : copyMessage(m))
      this.observe(to)
    }
  }

  private send (msgs: Message[]): void {
    const p = this.profile
    for (const m of msgs) {
      if (m.type === 'voteResponse' && !m.reject) {
        // One vote per node per term, whatever crashes happened in between.
        const key = `${m.from}@${m.term}`
        const before = this.votes.get(key)
        if (before !== undefined && before !== m.to) this.fail(`${m.from} voted for ${before} and for ${m.to} in term ${m.term}`)
        this.votes.set(key, m.to)
      }
      if (this.rand() < p.drop) { this.stats.dropped++; continue }
      const delay = this.rand() < p.longDelay ? 40 : p.maxDelay
      this.network.push({ due: this.now + 1 + Math.floor(this.rand() * delay), m })
      if (this.rand() < p.duplicate) this.network.push({ due: this.now + 1 + Math.floor(this.rand() * p.maxDelay * 3), m })
    }
  }

  private readies (): void {
    for (const h of this.hosts.values()) {
      if (h.live && !this.pausedUntil.has(h.id) && h.r.hasReady() && this.rand() < this.profile.readyRate) {
        const msgs = h.handleReady()
        if (this.rand() < this.profile.crashInReady) {
          this.note(`${h.id} persisted a Ready and crashed before sending ${msgs.length} messages`)
          this.crash(h)
          continue
        }
        this.send(msgs)
        this.observe(h)
      }
    }
  }

  // ---- clients ------------------------------------------------------------------------------

  private clients (): void {
    const p = this.profile
    let proposals = Math.floor(p.proposeRate) + (this.rand() < p.proposeRate % 1 ? 1 : 0)
    while (proposals-- > 0) this.propose()
    if (this.rand() < p.readRate) this.read()
    if (this.rand() < p.compactRate) this.compact()
    if (this.rand() < p.confRate) this.changeMembership()
  }

  /** A live node that says it is leader: asked directly, or named by the node a client reached. */
  private findLeader (): Host | undefined {
    const live = this.activeHosts()
    const first = live[Math.floor(this.rand() * live.length)]
    if (!first) return undefined
    const s = first.r.status()
    if (s.role === 'leader') return first
    const named = s.leader ? this.hosts.get(s.leader) : undefined
    return named?.live && !this.pausedUntil.has(named.id) ? named : undefined
  }

  private propose (): void {
    const live = this.activeHosts()
    const at = live[Math.floor(this.rand() * live.length)]
    if (!at) return
    const value = `v${this.options.seed}.${++this.proposals}`
    let r = at.r.propose(value)
    this.observe(at)
    if (!r.ok && r.reason === 'not_leader' && r.leader) {
      const leader = this.hosts.get(r.leader)
      if (leader?.live && !this.pausedUntil.has(leader.id) && !this.cuts.has(`${at.id}>${leader.id}`)) {
        r = leader.r.propose(value)
        this.observe(leader)
      }
    }
  }

  private read (): void {
    const leader = this.findLeader()
    if (!leader) return
    const context = `read${++this.proposals}`
    // Everything any node has seen committed may have been acknowledged to a client already.
    const atLeast = this.globalCommit
    const r = leader.r.readIndex(context)
    this.observe(leader)
    if (r.ok) this.pendingReads.set(context, { node: leader.id, atLeast })
  }

  private compact (): void {
    const live = this.activeHosts()
    const h = live[Math.floor(this.rand() * live.length)]
    if (!h || h.machine.index <= (h.disk.snapshot?.index ?? 0)) return
    const snap = h.compact(this.rand() < 0.8)
    if (snap) {
      this.stats.compactions++
      this.note(`${h.id} compacts to ${snap.index}`)
    }
  }

  private changeMembership (): void {
    const leader = this.findLeader()
    if (!leader) return
    const s = leader.r.status()
    const options: ConfChange[] = []
    const spare = this.spares[0]
    if (spare && s.voters.length + s.learners.length < 8) {
      options.push({ type: 'addLearner', node: spare })
      // Straight in as a voter, with an empty log: allowed, if unwise.
      if (s.voters.length < 5 && this.rand() < 0.2) options.push({ type: 'addVoter', node: spare })
    }
    for (const l of s.learners) {
      if (s.voters.length < 5) options.push({ type: 'addVoter', node: l })
      options.push({ type: 'remove', node: l })
    }
    if (s.voters.length > 2) {
      for (const v of s.voters) {
        options.push({ type: 'remove', node: v })
        if (this.rand() < 0.3) options.push({ type: 'addLearner', node: v })
      }
    }
    const change = options[Math.floor(this.rand() * options.length)]
    if (!change) return
    const r = leader.r.proposeConfChange(change)
    this.observe(leader)
    if (!r.ok) return
    this.stats.membershipChanges++
    this.note(`${leader.id} proposes ${change.type} ${change.node} at ${r.index} (term ${r.term})`)
    if (change.type !== 'remove' && change.node === spare) {
      this.spares.shift()
      // A joining node knows no members: it learns them from the leader.
      this.hosts.set(spare, new Host(spare, { ...this.hostOptions, voters: [], learners: [], seed: this.options.seed * 31 + Number(spare.slice(1)) }, this.hooks))
      this.seenRole.set(spare, 'follower')
    }
    if (change.type === 'remove') this.pendingRemovals.push({ node: change.node, index: r.index, term: r.term, leader: change.node === leader.id })
  }

  /** Once a removal is committed, the removed node is usually shut down; sometimes it lingers. */
  private retireRemoved (): void {
    for (let k = this.pendingRemovals.length - 1; k >= 0; k--) {
      const p = this.pendingRemovals[k]!
      const term = this.committedTerm[p.index]
      if (term === undefined) continue
      this.pendingRemovals.splice(k, 1)
      if (term !== p.term) continue
      if (p.leader) this.stats.leaderRemovals++
      if (this.rand() < 0.7) {
        this.retired.add(p.node)
        this.hosts.get(p.node)?.crash()
        this.downUntil.delete(p.node)
        this.note(`retire ${p.node}`)
      }
    }
  }

  // ---- settling -----------------------------------------------------------------------------

  private settle (): void {
    this.note('settle: heal, restart, no more faults')
    this.settling = true
    this.cuts.clear()
    this.pausedUntil.clear()
    this.crashAt.clear()
    Object.assign(this.profile, { drop: 0, duplicate: 0, longDelay: 0, crashInReady: 0, maxDelay: 1, readyRate: 1, tickRate: 1 })
    for (const id of [...this.downUntil.keys()]) this.restart(id)
    let marker: { index: number, term: number } | null = null
    const stall = this.options.stallSteps ?? 400
    let progress = -1
    let progressAt = this.now
    for (; this.now - progressAt <= stall; this.now++) {
      // Progress: something new applied, or a log grown (a backlog from older terms can take
      // long to replicate before the leader's own entry commits it all).
      let now = 0
      for (const h of this.liveHosts()) now += h.machine.index + h.r.status().lastIndex
      if (now > progress) { progress = now; progressAt = this.now }
      this.tickAll()
      this.deliver()
      this.readies()
      this.retireRemoved()
      const leader = this.currentLeader()
      if (!leader) continue
      const s = leader.r.status()
      if (!marker || (marker.term < s.term && this.committedTerm[marker.index] !== marker.term)) {
        const r = leader.r.propose(`final.${this.options.seed}.${s.term}`)
        this.observe(leader)
        if (r.ok) marker = { index: r.index, term: r.term }
        continue
      }
      if (this.committedTerm[marker.index] !== marker.term) continue
      const members = [...s.voters, ...s.learners]
      if (!members.every(id => (this.hosts.get(id)?.machine.index ?? -1) >= marker!.index)) continue
      if (!s.voters.includes(leader.id)) this.fail(`${leader.id} still leads, though its removal is committed`)
      return
    }
    const lines = [...this.hosts.values()].map(h => h.live ? `${h.id}: ${JSON.stringify(h.r.status())} machine ${h.machine.index}${h.r.progress() ? ` progress ${JSON.stringify(h.r.progress())}` : ''}` : `${h.id}: down${this.retired.has(h.id) ? ' (retired)' : ''}`)
    this.fail(`liveness: ${this.now - this.options.steps} steps after healing, and ${stall} steps without progress, no leader has every member caught up${marker ? ` (marker ${marker.index}@${marker.term})` : ''}\n    ${lines.join('\n    ')}`)
  }

  private currentLeader (): Host | undefined {
    let best: Host | undefined
    let bestTerm = -1
    for (const h of this.liveHosts()) {
      const s = h.r.status()
      if (s.role === 'leader' && s.term > bestTerm) { best = h; bestTerm = s.term }
    }
    return best
  }

  // ---- safety -------------------------------------------------------------------------------

  /** Checks what a node shows after every call into it. */
  private observe (h: Host): void {
    if (!h.live) return
    const s = h.r.status()
    if (s.term > this.stats.maxTerm) this.stats.maxTerm = s.term
    const role = `${s.role}@${s.term}`
    if (this.seenRole.get(h.id) !== role) {
      this.seenRole.set(h.id, role)
      if (this.options.verbose || s.role === 'leader') this.note(`${h.id} is ${s.role} in term ${s.term} (last ${s.lastIndex}@${h.r.termAt(s.lastIndex)}, commit ${s.commit})`)
      if (s.role === 'leader') this.newLeader(h, s.term, s.snapshotIndex, s.lastIndex)
    }
    const seen = this.seenCommit.get(h.id) ?? 0
    if (s.commit > seen) {
      for (let i = Math.max(seen, s.snapshotIndex) + 1; i <= s.commit; i++) this.recordCommittedTerm(h, i, h.r.termAt(i)!)
      this.seenCommit.set(h.id, s.commit)
      if (s.commit > this.globalCommit) this.globalCommit = s.commit
    }
  }

  private newLeader (h: Host, term: number, snapshotIndex: number, lastIndex: number): void {
    const other = this.leaderOfTerm.get(term)
    if (other !== undefined && other !== h.id) this.fail(`Election Safety: ${h.id} and ${other} both lead term ${term}`)
    this.leaderOfTerm.set(term, h.id)
    this.stats.leaders++
    if (this.now <= this.options.steps && this.rand() < this.profile.leaderCrash) this.crashAt.set(h.id, this.now + Math.floor(this.rand() * this.hostOptions.electionTicks))
    // Only leaders of later terms must hold an entry: a leader of an older term may still be
    // elected late (its votes were delayed) and will be deposed before it can commit anything.
    for (let i = snapshotIndex + 1; i <= this.globalCommit; i++) {
      const t = this.committedTerm[i]
      if (t === undefined || this.committedBy[i]! >= term) continue
      if (i > lastIndex) this.fail(`Leader Completeness: ${h.id} leads term ${term} with last index ${lastIndex}, but ${i} was committed in term ${this.committedBy[i]}`)
      if (h.r.termAt(i) !== t) this.fail(`Leader Completeness: ${h.id} leads term ${term} with term ${h.r.termAt(i)} at ${i}, where term ${t} was committed in term ${this.committedBy[i]}`)
    }
  }

  private recordCommittedTerm (h: Host, index: number, term: number): void {
    const t = this.committedTerm[index]
    if (t === undefined) {
      this.committedTerm[index] = term
      this.committedBy[index] = h.r.status().term
    } else if (t !== term) {
      this.fail(`Log Matching: ${h.id} has term ${term} committed at ${index}, where term ${t} was committed before`)
    }
  }

  private onApplied (h: Host, e: Entry, hash: number): void {
    const i = e.index
    const key = `${e.term}|${e.type}|${JSON.stringify(e.data)}`
    const known = this.committedKey[i]
    if (known === undefined) {
      this.committedKey[i] = key
      this.hashAt[i] = hash
      if (e.type === 'normal' && typeof e.data === 'string') {
        const at = this.indexOfValue.get(e.data)
        if (at !== undefined) this.fail(`${e.data} applied at ${at} and again at ${i}`)
        this.indexOfValue.set(e.data, i)
      }
    } else if (known !== key) {
      this.fail(`State Machine Safety: ${h.id} applied ${key} at ${i}, others applied ${known}`)
    } else if (this.hashAt[i] !== hash) {
      this.fail(`State Machine Safety: ${h.id} has hash ${hash} after ${i}, others had ${this.hashAt[i]}`)
    }
    this.recordCommittedTerm(h, i, e.term)
    if (i > this.globalCommit) this.fail(`${h.id} applied ${i} before any node showed it committed (${this.globalCommit})`)
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** Up and not paused. */
  private activeHosts (): Host[] {
    const out: Host[] = []
    for (const h of this.hosts.values()) if (h.live && !this.pausedUntil.has(h.id)) out.push(h)
    return out
  }

  private liveHosts (): Host[] {
    const out: Host[] = []
    for (const h of this.hosts.values()) if (h.live) out.push(h)
    return out
  }

  private note (line: string): void {
    this.trace.push(`[${this.now}] ${line}`)
    const keep = this.options.verbose ? 400 : 60
    if (this.trace.length > keep * 2) this.trace.splice(0, this.trace.length - keep)
  }

  private fail (reason: string): never {
    throw new SimFailure(this.options.seed, this.now, reason, this.trace.slice(this.options.verbose ? -400 : -60))
  }
}

function copyMessage (m: Message): Message {
  switch (m.type) {
    case 'append': return { ...m, entries: m.entries.map(e => ({ ...e })) }
    case 'snapshot': return { ...m, snapshot: { ...m.snapshot, membership: { voters: [...m.snapshot.membership.voters], learners: [...m.snapshot.membership.learners] }, data: { ...(m.snapshot.data as MachineState) } } }
    default: return { ...m }
  }
}

function describe (m: Message): string {
  const base = `${m.from}->${m.to} ${m.type} t${m.term}`
  switch (m.type) {
    case 'append': return `${base} prev ${m.prevIndex}@${m.prevTerm} [${m.entries.map(e => `${e.index}@${e.term}`).join(' ')}] commit ${m.commit}`
    case 'appendResponse': return `${base} ${m.reject ? `reject ${m.index} hint ${m.hintIndex}@${m.hintTerm}` : `ok ${m.index}`}`
    case 'heartbeat': return `${base} commit ${m.commit}${m.context ? ` ctx ${m.context}` : ''}`
    case 'snapshot': return `${base} ${m.snapshot.index}@${m.snapshot.term}`
    case 'vote': case 'prevote': return `${base} last ${m.lastIndex}@${m.lastTerm}`
    case 'voteResponse': case 'prevoteResponse': return `${base} ${m.reject ? 'reject' : 'grant'}`
    default: return base
  }
}
