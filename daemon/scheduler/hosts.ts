// The leader's view of the hosts: every dstackd gossips a record of itself (its inventory as an
// offer, its address); the leader turns what it hears into commands — a new or changed host is
// registered as an instance, a silent one is marked unreachable, one heard again is reachable.
// Its jobs keep their status for a grace while it is away (they are still running there, as far
// as anyone knows, and report when it answers again); past the grace they fail with
// `instance_unreachable`, so their runs retry elsewhere or end. The instance keeps its place in
// the fleet (dstack deletes such a host; our users asked not to), and when it answers again it
// kills what the state has ended meanwhile. A host deleted by hand (`dstack fleet delete local
// -i N`) is never registered again.
import type { Presence } from '../../mesh/presence.ts'
import type { Offer } from '../config/index.ts'
import type { Command } from '../state/machine.ts'
import type { StateStore } from '../state/store.ts'
import type { State } from '../state/types.ts'
import { startLeaderLoop } from './loop.ts'

/** What a host says of itself on the gossip topic. */
export interface HostRecord {
  name: string
  hostname: string
  address: string
  offer: Offer
  warnings: string[]
  version: string
  /** The host's SSH gateway port (absent: it runs none), so clients learn where else to connect. */
  ssh_port?: number
  /** The SSH fleet it was installed into (`dstackd run --fleet`); absent: the mesh's fleet `local`. */
  fleet?: string
}

export const HOSTS_TOPIC = 'dstack/hosts/1'
/** The fleet every host of the mesh belongs to. */
export const MESH_FLEET = { id: 'local', name: 'local' }
/** How long an unreachable host's jobs keep their status before they fail (`--unreachable-grace`). */
export const UNREACHABLE_GRACE_SECONDS = 120

/** Checks a gossiped record's shape before it is kept (it comes from the network). */
export function hostRecordProblem (v: unknown): string | null {
  const r = v as Partial<HostRecord> | null
  if (r === null || typeof r !== 'object') return 'not an object'
  for (const k of ['name', 'hostname', 'address', 'version'] as const) {
    if (typeof r[k] !== 'string' || r[k]!.length > 256) return `${k} must be a short string`
  }
  const o = r.offer as Partial<Offer> | undefined
  if (o === undefined || o === null || typeof o !== 'object' || typeof o.cpus !== 'number' || typeof o.memory !== 'number' || !Array.isArray(o.gpus)) return 'offer is malformed'
  if (o.container_engine != null && (typeof o.container_engine !== 'string' || o.container_engine.length > 256)) return 'offer.container_engine must be a short string or null'
  if (!Array.isArray(r.warnings) || r.warnings.some(w => typeof w !== 'string')) return 'warnings must be strings'
  if (r.ssh_port !== undefined && (!Number.isInteger(r.ssh_port) || r.ssh_port < 1 || r.ssh_port > 65535)) return 'ssh_port must be a port number'
  if (r.fleet !== undefined && (typeof r.fleet !== 'string' || r.fleet.length > 256)) return 'fleet must be a short string'
  return null
}

/** A name no other instance holds: the host's own, else with a suffix. */
function uniqueName (state: State, id: string, name: string): string {
  const taken = new Set(Object.values(state.instances).filter(i => i.id !== id && i.status !== 'terminated').map(i => i.name))
  if (!taken.has(name)) return name
  let n = 2
  while (taken.has(`${name}-${n}`)) n++
  return `${name}-${n}`
}

/** The fleet a host registers into: the SSH fleet it names while that fleet exists, else the mesh's. */
function fleetOf (state: State, h: HostRecord): { id: string, name: string } {
  if (h.fleet === undefined) return MESH_FLEET
  const f = Object.values(state.fleets).find(x => x.name === h.fleet && x.ssh)
  return f ? { id: f.id, name: f.name } : MESH_FLEET
}

/** Who the leader hears from: the hosts' records, and whether each is alive now. */
export interface Liveness extends Pick<Presence<HostRecord>, 'records' | 'alive'> {
  /** Just started, or just elected with little heard yet: silence does not yet mean gone. */
  warmingUp (): boolean
}

/**
 * The commands that bring the state in line with what the leader hears, at `now`, with jobs on
 * a host unreachable for more than `grace` seconds given up. Pure.
 */
export function reconcileHosts (state: State, presence: Liveness, now: number, term: number, grace = UNREACHABLE_GRACE_SECONDS): Command[] {
  const out: Command[] = []
  for (const r of presence.records()) {
    if (!presence.alive(r.peer)) continue
    const h = r.data
    const existing = state.instances[r.peer]
    if (existing?.status === 'terminated') continue // deleted: it stays out
    const name = existing !== undefined && (existing.name === h.name || existing.name.startsWith(`${h.name}-`)) ? existing.name : uniqueName(state, r.peer, h.name)
    const fleet = fleetOf(state, h)
    const same = existing !== undefined && !existing.unreachable && existing.name === name && existing.fleet === fleet.name && existing.hostname === h.hostname &&
      existing.address === h.address && JSON.stringify(existing.offer) === JSON.stringify(h.offer) && JSON.stringify(existing.warnings) === JSON.stringify(h.warnings)
    if (same) continue
    if (existing !== undefined && existing.unreachable && existing.name === name && existing.address === h.address && JSON.stringify(existing.offer) === JSON.stringify(h.offer)) {
      out.push({ type: 'instance.reachable', at: now, instance_id: r.peer, reachable: true, term })
      continue
    }
    out.push({
      type: 'instance.register', at: now, term, fleet,
      instance: { id: r.peer, name, node: r.peer, hostname: h.hostname, address: h.address, offer: h.offer, warnings: h.warnings }
    })
  }
  // Just started, or just elected with little heard yet: silence does not yet mean gone.
  if (presence.warmingUp()) return out
  for (const i of Object.values(state.instances)) {
    if (i.unreachable || i.status === 'terminated') continue
    if (presence.alive(i.node)) continue
    out.push({ type: 'instance.reachable', at: now, instance_id: i.id, reachable: false, term })
  }
  out.push(...giveUp(state, presence, now, term, grace))
  return out
}

/**
 * `instance.lost` for each host silent past the grace that still holds unfinished jobs (an
 * instance is busy exactly while it does), so a dead host costs a look at its record, not at
 * every job, on each pass.
 */
function giveUp (state: State, presence: Liveness, now: number, term: number, grace: number): Command[] {
  const out: Command[] = []
  for (const i of Object.values(state.instances)) {
    // A state from before unreachable_since has no start to count from: it counts from its next mark.
    if (!i.unreachable || i.status !== 'busy' || i.unreachable_since == null) continue
    if (now - i.unreachable_since > grace * 1000 && !presence.alive(i.node)) out.push({ type: 'instance.lost', at: now, instance_id: i.id, grace, term })
  }
  return out
}

/** On the leader: reconciles on every presence change and every `intervalMs`. */
export function startHostKeeper (opts: {
  store: StateStore
  presence: Presence<HostRecord>
  liveness: Liveness
  isLeader: () => number | null
  /** Seconds an unreachable host's jobs keep their status (default UNREACHABLE_GRACE_SECONDS). */
  grace?: number
  intervalMs?: number
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void
}): { close (): void } {
  const loop = startLeaderLoop({
    leaderTerm: opts.isLeader,
    intervalMs: opts.intervalMs ?? 500,
    pass: async term => {
      const cmds = reconcileHosts(opts.store.state, opts.liveness, Date.now(), term, opts.grace)
      await Promise.all(cmds.map(async cmd => {
        const res = await opts.store.propose(cmd)
        if (!res.ok && res.code !== 'fenced') opts.log('warn', 'host change refused', { command: cmd.type, reason: res.message })
        else if (res.ok && cmd.type === 'instance.reachable') opts.log('info', cmd.reachable ? 'host reachable again' : 'host unreachable', { instance: cmd.instance_id })
        else if (res.ok && cmd.type === 'instance.lost') opts.log('warn', 'host unreachable past the grace: its jobs failed with instance_unreachable', { instance: cmd.instance_id, grace: cmd.grace })
      }))
    },
    onError: err => opts.log('warn', 'host keeper pass failed', { error: (err as Error).message })
  })
  const off = opts.presence.on(() => loop.trigger())
  return {
    close () {
      loop.close()
      off()
    }
  }
}
