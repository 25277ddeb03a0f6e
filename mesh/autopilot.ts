// Autopilot: the leader chooses who votes, as Consul's autopilot does. A member deleted by hand
// leaves Raft; every other member heard from joins it as a learner; among healthy members 1, 3
// or 5 vote (never an even number for long); a voter silent for `deadAfterMs` is replaced by a
// healthy learner. One single-server change at a time, each waiting for the last to commit
// (mesh/raft's rule).
//
// `decide` is pure (membership, health → the next change) and tested on its own; `startAutopilot`
// runs it on the leader every `intervalMs`.
import type { ConfChange } from './raft/index.ts'
import type { RaftNode } from './raft/node.ts'

export interface Health {
  /** Peers heard from recently, this node included. */
  alive: Set<string>
  /** Voters silent long enough to be replaced. */
  dead: Set<string>
  /** Learners whose log is close enough to the leader's to vote at once. */
  caughtUp: Set<string>
  /** Hosts deleted by hand: they leave the membership and are never added again. */
  removed: Set<string>
}

/** The voter count wanted among `n` healthy members: 5, 3 or 1. */
export function targetVoters (n: number): number {
  return n >= 5 ? 5 : n >= 3 ? 3 : 1
}

/** The next membership change, or null when the membership is as it should be. */
export function decide (m: { leader: string, voters: readonly string[], learners: readonly string[] }, h: Health): ConfChange | null {
  const members = new Set([...m.voters, ...m.learners])
  // 0. A deleted member leaves (the leader never removes itself: it must be stopped first).
  const gone = [...members].sort().find(p => h.removed.has(p) && p !== m.leader)
  if (gone !== undefined) return { type: 'remove', node: gone }
  // 1. Everyone heard from learns the log.
  const newcomer = [...h.alive].sort().find(p => !members.has(p) && !h.removed.has(p))
  if (newcomer !== undefined) return { type: 'addLearner', node: newcomer }

  const healthyVoters = m.voters.filter(v => h.alive.has(v) && !h.removed.has(v))
  const aliveLearners = m.learners.filter(l => h.alive.has(l) && !h.removed.has(l))
  const ready = aliveLearners.filter(l => h.caughtUp.has(l)).sort()
  // The target counts learners still catching up, so a promotion half done is not undone; and
  // it never falls below three once three vote, so losing a minority never shrinks the voters
  // (a voter that comes back simply votes again).
  const target = Math.max(targetVoters(healthyVoters.length + aliveLearners.length), Math.min(3, m.voters.length))
  // 2. Too few healthy voters: promote a caught-up learner.
  if (healthyVoters.length < target && ready.length > 0) return { type: 'addVoter', node: ready[0]! }
  // 3. A dead voter that a healthy one has already replaced: demote it (it learns again when back).
  const dead = m.voters.filter(v => h.dead.has(v) && v !== m.leader).sort()
  if (dead.length > 0 && healthyVoters.length >= target && m.voters.length > target) return { type: 'addLearner', node: dead[0]! }
  // 4. More voters than wanted, all of them healthy (so the change cannot cost the quorum): demote
  //    the last, never the leader.
  if (m.voters.length > target && healthyVoters.length === m.voters.length) {
    const extra = m.voters.filter(v => v !== m.leader).sort().at(-1)
    if (extra !== undefined) return { type: 'addLearner', node: extra }
  }
  return null
}

/** Changes made back to back in one round: many hosts joining at once are added in one go. */
const MAX_CHANGES_PER_ROUND = 32

export interface AutopilotOptions {
  raft: RaftNode
  /** Is this peer heard from within the failure-detection TTL? */
  alive: (peer: string) => boolean
  /** Every peer ever heard from (the candidates). */
  peers: () => string[]
  /** Was this host deleted by hand? */
  removed: (peer: string) => boolean
  /** A voter silent this long is replaced, in ms. Default 10000. */
  deadAfterMs?: number
  /** How long a peer has been silent, in ms (0 when alive). */
  silentFor: (peer: string) => number
  /** Default 1000. */
  intervalMs?: number
  /** A learner at most this many entries behind the leader's commit may vote. Default 100. */
  maxLag?: number
  log?: (msg: string, fields?: object) => void
}

export function startAutopilot (opts: AutopilotOptions): { close (): void } {
  const { raft } = opts
  const deadAfterMs = opts.deadAfterMs ?? 10_000
  const maxLag = opts.maxLag ?? 100
  let busy = false
  let closed = false

  /** One round: changes one after another (each committed before the next) until none is due. */
  async function round (): Promise<void> {
    if (busy || closed) return
    busy = true
    try {
      for (let n = 0; n < MAX_CHANGES_PER_ROUND && !closed; n++) {
        const change = next()
        if (change === null) return
        const st = raft.status()
        opts.log?.('autopilot: membership change', { change: change.type, node: change.node, voters: st.voters.length, learners: st.learners.length })
        try {
          await raft.changeMembership(change)
        } catch (err) {
          const code = (err as { code?: string }).code
          if (code !== 'busy' && code !== 'not_leader') opts.log?.('autopilot: change failed', { change: change.type, node: change.node, error: (err as Error).message })
          return
        }
      }
    } finally {
      busy = false
    }
  }

  function next (): ConfChange | null {
    const st = raft.status()
    if (st.role !== 'leader') return null
    const progress = raft.progress()
    const known = new Set([...opts.peers(), ...st.voters, ...st.learners, st.id])
    const health: Health = { alive: new Set(), dead: new Set(), caughtUp: new Set(), removed: new Set() }
    for (const p of known) {
      if (opts.removed(p)) health.removed.add(p)
      if (opts.alive(p)) health.alive.add(p)
      else if (opts.silentFor(p) >= deadAfterMs) health.dead.add(p)
      const pr = progress[p]
      if (pr !== undefined && pr.match + maxLag >= st.commit) health.caughtUp.add(p)
    }
    return decide({ leader: st.id, voters: st.voters, learners: st.learners }, health)
  }

  const timer = setInterval(() => { void round() }, opts.intervalMs ?? 1000)
  timer.unref()
  return {
    close () {
      closed = true
      clearInterval(timer)
    }
  }
}
