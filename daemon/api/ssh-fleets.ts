// SSH fleets (SPEC §1.8, §5) on the node the client talks to: it holds the join material, so it
// provisions. `apply` records the fleet in the replicated state first (so the hosts register
// into it when they join), then bootstraps every host in parallel over SSH with the bundled
// dstackd (drivers/backends/ssh), streaming each host's progress; a host has joined when the
// mesh has registered it in the fleet. `delete` stops the daemons and removes what was
// installed, then ends the fleet's record. The private keys come from the client (the files
// its configuration names are on the client's machine) and are kept only sealed with the
// mesh's key, for delete.
import { randomUUID } from 'node:crypto'
import { sshBackend, type HostOutcome, type Progress, type SshTarget } from '../../drivers/backends/ssh/provision.ts'
import { dstackdBundle } from '../../drivers/backends/ssh/bundle.ts'
import { ConfigError, parseConfiguration, type FleetConfiguration } from '../config/index.ts'
import type { Sealer } from '../agent/registry-auth.ts'
import type { StateStore } from '../state/store.ts'
import type { Fleet, SshFleet, SshFleetHost } from '../state/types.ts'
import { RpcError } from '../../mesh/rpc/protocol.ts'

export type FleetApplyItem = { progress: Progress } | { done: { fleet: string, hosts: HostOutcome[] } }

export interface SshFleetDeps {
  store: StateStore
  sealer: Sealer
  joinToken: () => string
  user: string
  /** Raft's members now (a deleted fleet's hosts must be out of it before their daemons stop). */
  cluster: () => { voters: string[], learners: string[] }
}

function fleetConfiguration (v: unknown): FleetConfiguration {
  let c
  try {
    c = parseConfiguration(v)
  } catch (err) {
    if (err instanceof ConfigError) throw new RpcError('invalid', err.message)
    throw err
  }
  if (c.type !== 'fleet') throw new RpcError('invalid', `fleets.apply takes a fleet configuration, not a ${c.type}`)
  if (c.ssh_config === null) throw new RpcError('invalid', 'only SSH fleets (`ssh_config`) can be applied here: backend fleets (`nodes`) need a cloud backend, which this mesh has none of')
  if (c.name === null) throw new RpcError('invalid', 'an SSH fleet needs a `name`')
  return c
}

const KEY_LABEL = 'ssh-key'

function targetOf (h: SshFleetHost, key: (path: string) => string): SshTarget {
  return {
    hostname: h.hostname, port: h.port, user: h.user, privateKey: key(h.identity_file), internalIp: h.internal_ip,
    proxyJump: h.proxy_jump ? { hostname: h.proxy_jump.hostname, port: h.proxy_jump.port, user: h.proxy_jump.user, privateKey: key(h.proxy_jump.identity_file) } : null
  }
}

export function sshFleets (deps: SshFleetDeps) {
  const { store } = deps
  const findFleet = (name: string): Fleet | undefined => Object.values(store.state.fleets).find(f => f.name === name)
  const backend = () => sshBackend({
    bundle: dstackdBundle,
    // Joined: the leader registered the node in this fleet (it heard the host's gossip).
    joined: (peerId, signal) => new Promise<void>((resolve, reject) => {
      const check = () => {
        const i = store.state.instances[peerId]
        if (i && i.status !== 'terminated' && findFleet(i.fleet)?.ssh) { done(); resolve() }
      }
      const off = store.subscribe(check)
      const abort = () => { done(); reject(new Error('the apply was interrupted before the host joined')) }
      const timer = setTimeout(() => { done(); reject(new Error('dstackd started but did not join the mesh within 60s — check that the host reaches this node\'s mesh address (port 10100) and the clocks')) }, 60_000)
      const done = () => { off(); clearTimeout(timer); signal.removeEventListener('abort', abort) }
      signal.addEventListener('abort', abort)
      check()
    })
  })

  return {
    apply (configuration: unknown, keys: Record<string, string>, signal: AbortSignal): AsyncIterable<FleetApplyItem> {
      const c = fleetConfiguration(configuration)
      const name = c.name!
      const hosts: SshFleetHost[] = c.ssh_config!.hosts.map(h => ({
        hostname: h.hostname, port: h.port!, user: h.user!, identity_file: h.identity_file!, internal_ip: h.internal_ip, blocks: h.blocks!,
        proxy_jump: h.proxy_jump ? { hostname: h.proxy_jump.hostname, port: h.proxy_jump.port, user: h.proxy_jump.user, identity_file: h.proxy_jump.identity_file } : null
      }))
      const paths = new Set(hosts.flatMap(h => [h.identity_file, ...(h.proxy_jump ? [h.proxy_jump.identity_file] : [])]))
      for (const p of paths) if (typeof keys[p] !== 'string') throw new RpcError('invalid', `identity_file ${p}: its contents were not sent (the client reads the key files the configuration names)`)
      const existing = findFleet(name)
      if (existing && !existing.ssh) throw new RpcError('conflict', `fleet ${name} is the mesh's own fleet: give the SSH fleet another name`)
      const ssh: SshFleet = {
        hosts, env: Object.fromEntries(Object.entries(c.env).filter((e): e is [string, string] => typeof e[1] === 'string')), placement: c.placement,
        sealed_keys: Object.fromEntries([...paths].map(p => [p, deps.sealer.seal({ username: KEY_LABEL, password: keys[p]! })]))
      }
      return (async function * () {
        const res = await store.propose({ type: 'fleet.apply', at: Date.now(), fleet: { id: existing?.id ?? randomUUID(), name, ssh }, by: deps.user })
        if (!res.ok) throw new RpcError(res.code, res.message)
        // A host applied again is started again with its data dir: it keeps its identity, its
        // place in the fleet and its jobs (they outlive dstackd).
        const queue: FleetApplyItem[] = []
        let wake: (() => void) | null = null
        const push = (item: FleetApplyItem) => { queue.push(item); wake?.() }
        const work = backend().provision(name, hosts.map(h => targetOf(h, p => keys[p]!)), deps.joinToken(), progress => push({ progress }), signal)
          .then(async outcomes => {
            // Which hosts now run dstackd, so delete knows where there is something to remove.
            const before = existing?.ssh?.hosts ?? []
            const peers = hosts.map((h, i) => ({ ...h, peer: outcomes[i]!.peerId ?? before.find(b => b.hostname === h.hostname && b.port === h.port && b.user === h.user)?.peer ?? null }))
            const id = findFleet(name)?.id
            if (id) await store.propose({ type: 'fleet.apply', at: Date.now(), fleet: { id, name, ssh: { ...ssh, hosts: peers } }, by: deps.user })
            push({ done: { fleet: name, hosts: outcomes } })
          })
        for (;;) {
          while (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
          const item = queue.shift()!
          yield item
          if ('done' in item) break
        }
        await work
      })()
    },

    /** Whether `name` is an SSH fleet (delete then takes it whole). */
    isSsh (name: string): boolean {
      return findFleet(name)?.ssh != null
    },

    async delete (name: string): Promise<{ fleet: string, deleted: string[], errors: string[] }> {
      const fleet = findFleet(name)
      if (!fleet?.ssh) throw new RpcError('not_found', `SSH fleet ${name} not found`)
      const ssh = fleet.ssh
      const key = (p: string) => deps.sealer.open(ssh.sealed_keys[p]!).password
      const deleted = fleet.instance_ids.map(id => store.state.instances[id]).filter(i => i && i.status !== 'terminated').map(i => i!.name)
      const peers = new Set(fleet.instance_ids.map(id => store.state.instances[id]?.node).filter((n): n is string => n !== undefined))
      // The record goes first and the hosts leave Raft, then their daemons stop: stopped first,
      // voters among them would take the mesh's majority with them.
      const res = await store.propose({ type: 'fleet.remove', at: Date.now(), fleet_id: fleet.id, by: deps.user })
      if (!res.ok) throw new RpcError(res.code, res.message)
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline) {
        const c = deps.cluster()
        if (![...c.voters, ...c.learners].some(p => peers.has(p))) break
        await new Promise(resolve => setTimeout(resolve, 200))
      }
      // Only where dstackd was installed: a host that never got it (a wrong key, …) has nothing to remove.
      const outcomes = await backend().remove(name, ssh.hosts.filter(h => h.peer).map(h => targetOf(h, key)), () => {})
      return { fleet: name, deleted, errors: outcomes.filter(o => !o.ok).map(o => o.error!) }
    }
  }
}
