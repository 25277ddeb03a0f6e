// Whether this host reaches its mesh, said only when it does not: a host that founded a mesh
// and is alone in it is fine and stays quiet; a host whose join fails, or a member that hears
// none of the other members, warns — after a grace period, then less and less often while it
// lasts (a warning a day repeated every 15 s is 5,760 lines), and once more when it is over.
import type { Log } from './log.ts'

export interface ReachFacts {
  /** This host's place: `joining` until the leader adds it to the membership. */
  role: string
  /** Hosts connected now. */
  connected: number
  /** Other members of the membership (voters and learners but this host). */
  members: number
  /** Where a joining host looks for the mesh: the join token's addresses. */
  joinAddresses: string[]
}

export interface ReachProblem { level: 'info' | 'warn', msg: string, fields: Record<string, unknown> }

/** What is wrong, or undefined when nothing is. */
export function reachProblem (f: ReachFacts): ReachProblem | undefined {
  if (f.role === 'joining') {
    if (f.connected > 0) return { level: 'info', msg: 'connected, waiting for the leader to add this host', fields: { peers: f.connected } }
    return {
      level: 'warn',
      msg: 'joining: no host of the mesh answers; check that the join token\'s addresses are reachable from here and that the token is from this mesh (`dstackd token` on a member); a host deleted from the fleet is refused too, and joins again only with a fresh data dir',
      fields: f.joinAddresses.length > 0 ? { addresses: f.joinAddresses } : {}
    }
  }
  if (f.members > 0 && f.connected === 0) {
    return { level: 'warn', msg: 'no other member of the mesh answers: this host can neither lead nor follow until one does', fields: { members: f.members } }
  }
  return undefined
}

export interface ReachWatchOptions {
  facts: () => ReachFacts
  log: Log
  /** How often to look. Default 5 s. */
  checkMs?: number
  /** How long a problem lasts before it is said. Default 15 s. */
  graceMs?: number
  /** The longest wait between two repeats of the same problem. Default 1 h. */
  maxRepeatMs?: number
}

export function watchReach (opts: ReachWatchOptions): { close (): void } {
  const grace = opts.graceMs ?? 15_000
  const maxRepeat = opts.maxRepeatMs ?? 3_600_000
  let since: number | null = null
  let current: string | null = null
  let nextAt = 0
  let said = 0
  const check = (): void => {
    const p = reachProblem(opts.facts())
    const now = Date.now()
    if (p === undefined || p.msg !== current) {
      if (current !== null && said > 0 && p === undefined) opts.log.info('the mesh answers again')
      current = p?.msg ?? null
      since = p === undefined ? null : now
      nextAt = now + grace
      said = 0
      if (p === undefined) return
    }
    if (now < nextAt) return
    opts.log(p!.level, p!.msg, { ...p!.fields, for_s: Math.round((now - since!) / 1000) })
    said++
    // 15 s, then 1 min, 2, 4, … up to maxRepeat.
    nextAt = now + Math.min(maxRepeat, 60_000 * 2 ** (said - 1))
  }
  const timer = setInterval(check, opts.checkMs ?? 5000)
  timer.unref()
  return { close: () => clearInterval(timer) }
}
