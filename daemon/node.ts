// One dstackd node: its data dir and admin token, the mesh (identity, swarm key, peers), the
// replicated state on Raft, this host's record gossiped to the others, the agent that runs this
// host's jobs, the leader's loops (scheduler, host keeper, autopilot) and the client API.
//
// A node started without --join founds a mesh of its own (one voter: itself); one started with
// a join token joins that mesh and is added by its leader, first as a learner, then as a voter
// if the autopilot wants one. Which of the two a data dir is, is remembered in DIR/cluster.
import { randomBytes } from 'node:crypto'
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { describeEndpoint, engineEndpoint, getInventory, probeEngine, type EngineEndpoint, type Inventory } from '../drivers/host/index.ts'
import { dockerRuntime, processRuntime, type Runtime } from '../drivers/runtime/index.ts'
import { createMesh, DEFAULT_LISTEN } from '../mesh/index.ts'
import { parseJoinToken } from '../mesh/token.ts'
import { startAutopilot } from '../mesh/autopilot.ts'
import { startPresence } from '../mesh/presence.ts'
import { normalizeGpuName, snapGpuMemoryGib, type Offer } from './config/index.ts'
import { runtimeFor, type RuntimeMode } from './agent/container.ts'
import { startAgent } from './agent/index.ts'
import { hostRuntimes } from './agent/runtimes.ts'
import type { ImageTable } from './agent/images.ts'
import { sealerOf } from './agent/registry-auth.ts'
import { readSwarmKey } from '../mesh/keys.ts'
import { prepareJobsArea } from './agent/jobs-area.ts'
import { createAccess, hashToken } from './api/access.ts'
import { createHandlers, type ClusterInfo } from './api/handlers.ts'
import { methods } from './api/methods.ts'
import { createUserHandlers } from './api/users.ts'
import { startPeerServices } from './api/peers.ts'
import { startPortRelay } from './api/ports.ts'
import { createActivity } from './ssh/activity.ts'
import { watchInactivity } from './ssh/inactivity.ts'
import { createJobAccess } from './ssh/jobs.ts'
import { localExec } from './ssh/local.ts'
import { startExecRelay } from './ssh/relay.ts'
import { createApiServer } from './api/server.ts'
import { startController } from './scheduler/controller.ts'
import { makePrivate, makeTreePrivate, socketPathOf, socketPathProblem } from './datadir.ts'
import type { Log } from './log.ts'
import { watchReach } from './reach.ts'
import { HOSTS_TOPIC, hostRecordProblem, startHostKeeper, type HostRecord } from './scheduler/hosts.ts'
import { levelStorage } from '../mesh/raft/storage.ts'
import { meshTransport } from '../mesh/raft/transport.ts'
import type { Retention } from './state/retention.ts'
import { openStore } from './state/store.ts'
import { startSeeding } from './state/users.ts'
import type { SshInfo } from './api/views.ts'
import { DEFAULT_SSH_PORT, startSshGateway, type SshGateway } from './ssh/gateway.ts'
import { loadHostKey } from './ssh/hostkey.ts'
import type { JobAccess } from './ssh/types.ts'
import { VERSION } from './version.ts'

export type { Log } from './log.ts'

export interface NodeOptions {
  dataDir: string
  name?: string
  /** Multiaddrs to listen on for the mesh. Default `/ip4/0.0.0.0/tcp/10100`. */
  listen?: string[]
  /** A join token from `dstackd token`: join that mesh rather than found one. */
  join?: string
  /** Overrides what inventory detection found (a JSON file: see README, "Declaring a host's resources"). */
  inventoryFile?: string
  /** Also discover members on the local network by mDNS. */
  mdns?: boolean
  /** Seconds an unreachable host's jobs keep their status before they fail with instance_unreachable (default 120). */
  unreachableGrace?: number
  /** How long finished runs stay in the history while this node leads (default: a week, 1,000 runs). */
  retention?: Retention
  /** Where job directories go: outside the data dir (default DATA_DIR-jobs; see daemon/agent/jobs-area.ts). */
  jobsDir?: string
  /**
   * Which jobs run in a container (`dstackd run --runtime`): auto (default) those whose
   * configuration needs one, docker every job, process none (the engine is not even asked).
   */
  runtime?: RuntimeMode
  /** Which image a container job runs in when it names none (agent/images.ts; default dstack's). */
  images?: ImageTable
  /**
   * The SSH gateway's port (`--ssh-port`); 0 picks a free one. Not given: 10022, and when that
   * is taken the node runs without a gateway (it warns); a port given and taken fails the start.
   */
  sshPort?: number
  /** Where the gateway listens. Default 0.0.0.0. */
  sshHost?: string
  /** Runs the gateway's shells, commands and port forwards inside jobs. Default: none (each is refused with why). */
  jobAccess?: JobAccess
  /** The node's log: each part of it logs through a `child` named for the part. */
  log: Log
}

export interface RunningNode {
  socketPath: string
  peerId: string
  /** Shells, commands, sftp and port forwards into any job of the mesh (what the SSH gateway uses). */
  jobAccess: JobAccess
  /** The SSH gateway: its port and host key (absent: it runs none). */
  ssh?: SshInfo
  close (): Promise<void>
}

/**
 * Failure detection: the leader hears from every member over Raft several times a second;
 * three seconds of silence is unreachable. Hosts gossip their record every ten seconds (and
 * at once when it changes or a peer connects): that is how new hosts are found, and it costs
 * every node a signature check per host per period, so it is kept slow.
 */
const HOST_TTL_MS = 3000
const GOSSIP_MS = 10_000
/**
 * Connections a host keeps open on its own: gossip needs a connected graph, not a full one;
 * the leader connects to every member anyway, as Raft needs it to.
 */
const MESH_PEERS = 8
/** The largest message between nodes: a Raft snapshot of a big state goes in one. */
const MESH_MAX_FRAME_BYTES = 64 * 1024 * 1024

/** Reads a small file, or creates it (mode 0600) with `make()`. */
async function fileOrCreate (path: string, make: () => string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const value = make()
    await writeFile(path, value + '\n', { mode: 0o600, flag: 'wx' }).catch(async e => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    })
    await chmod(path, 0o600)
    return (await readFile(path, 'utf8')).trim()
  }
}

/** How often a host asks its container engine whether it still answers (and gossips a change). */
const ENGINE_PROBE_MS = 10_000

/** This host as an offer: what the scheduler matches requirements against. */
export function offerOf (inv: Inventory, name: string, mode: RuntimeMode = 'auto'): Offer {
  const engine = inv.containerEngine ?? null
  return {
    container_engine: engine === null || mode === 'process' ? null : `${engine.name} ${engine.version}`,
    ...(mode === 'docker' ? { containers_only: true } : {}),
    backend: 'local',
    region: 'local',
    instance_type: name,
    price: 0,
    spot: false,
    cpu_arch: inv.cpuArch === 'arm' ? 'arm' : 'x86',
    cpus: inv.cpus,
    memory: inv.memoryBytes / 1024 ** 3,
    disk: inv.diskBytes / 1024 ** 3,
    gpus: inv.gpus.map(g => {
      const gpuName = normalizeGpuName(g.vendor, g.name)
      return { vendor: g.vendor, name: gpuName, memory: snapGpuMemoryGib(gpuName, g.memoryMib) }
    })
  }
}

/** The IP other hosts reach this one at: the address it listens on when that is specific. */
function addressOf (listen: string[], inv: Inventory): string {
  for (const a of listen) {
    const m = /^\/ip4\/([\d.]+)\//.exec(a)
    if (m && m[1] !== '0.0.0.0') return m[1]!
  }
  return inv.addresses[0] ?? '127.0.0.1'
}

async function inventoryOf (dataDir: string, file: string | undefined, engine: EngineEndpoint | null, log: Log): Promise<Inventory> {
  const inventory = await getInventory({ diskPath: dataDir, engine })
  for (const w of inventory.warnings ?? []) log.warn(w)
  if (file === undefined) return inventory
  let override: Partial<Inventory>
  try {
    override = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new Error(`--inventory ${file}: ${(err as Error).message}`)
  }
  if (override === null || typeof override !== 'object' || Array.isArray(override)) throw new Error(`--inventory ${file}: expected a JSON object of inventory fields`)
  log.info('inventory overridden', { file, fields: Object.keys(override) })
  return { ...inventory, ...override }
}

/** The docker runtime over this host's engine (created once; it connects on use). */
function containerRuntime (rootDir: string, endpoint: EngineEndpoint | null): { runtime: Runtime, why?: undefined } | { runtime: null, why: string } {
  if (endpoint === null) return { runtime: null, why: 'containers are off on this host (--runtime process)' }
  return 'socketPath' in endpoint ? { runtime: dockerRuntime({ rootDir, socketPath: endpoint.socketPath }) } : { runtime: null, why: `no Unix socket: ${describeEndpoint(endpoint)}` }
}

/** Whether an --inventory file sets the engine itself (then no probe overrides it). */
async function inventoryNamesEngine (file: string | undefined): Promise<boolean> {
  if (file === undefined) return false
  const text = await readFile(file, 'utf8').catch(() => '{}')
  try { return Object.hasOwn(JSON.parse(text) as object, 'containerEngine') } catch { return false }
}

/** Which runtime holds submission `id` on a host set to `mode`, by its run's configuration. */
function kindOfSubmission (state: import('./state/types.ts').State, id: string, mode: RuntimeMode): 'docker' | 'process' | undefined {
  for (const job of Object.values(state.jobs)) {
    if (!job.submissions.some(s => s.id === id)) continue
    const run = state.runs[job.run_id]
    return run === undefined ? undefined : runtimeFor(mode, run.spec.configuration)
  }
  return undefined
}

export async function startNode (opts: NodeOptions): Promise<RunningNode> {
  const { dataDir, log } = opts
  // Checked before anything is made: Node would bind a truncated path and serve no one.
  const socketProblem = socketPathProblem(dataDir)
  if (socketProblem !== undefined) throw new Error(socketProblem)
  const privacyProblems = await makePrivate(dataDir)
  const madeBefore = new Set(await readdir(dataDir))
  const token = await fileOrCreate(join(dataDir, 'token'), () => randomBytes(32).toString('hex'))
  // Founded here, or joined: decided once, so a joined host restarted without --join never
  // founds a second mesh of its own.
  const origin = await fileOrCreate(join(dataDir, 'cluster'), () => opts.join === undefined ? 'founded' : 'joined')
  const name = opts.name ?? osHostname()
  const listen = opts.listen ?? [DEFAULT_LISTEN]
  const meshLog = log.child('mesh')
  const mode = opts.runtime ?? 'auto'
  let endpoint: EngineEndpoint | null = null
  if (mode !== 'process') {
    try { endpoint = engineEndpoint() } catch (err) { log.child('inventory').warn('no container engine can be asked', { error: (err as Error).message }) }
    // The docker runtime speaks to a Unix socket only: an engine elsewhere is none for this host.
    if (endpoint !== null && !('socketPath' in endpoint)) {
      log.child('inventory').warn('no container engine can be used', { error: `the docker runtime reaches an engine on a Unix socket only, not ${describeEndpoint(endpoint)}` })
      endpoint = null
    }
  }
  let inventory = await inventoryOf(dataDir, opts.inventoryFile, endpoint, log.child('inventory'))
  if (inventory.containerEngine) log.child('inventory').info('container engine', { engine: inventory.containerEngine.name, version: inventory.containerEngine.version })
  else if (mode === 'docker') log.child('inventory').warn('--runtime docker, and no container engine answers: no job can run here until one does', { why: inventory.containerEngineWhy })

  // Raft traffic shows whether members are alive; libp2p's own pings need only find dead
  // connections eventually (each ping is a new stream: a cost every host pays per peer).
  const mesh = await createMesh({ dataDir, listen, join: opts.join, mdns: opts.mdns, maxFrameBytes: MESH_MAX_FRAME_BYTES, pingIntervalMs: 30_000, maxPeers: MESH_PEERS, log: message => meshLog.warn(message) })
  const self = mesh.peerId
  // registry_auth travels in the Raft log sealed with a key only the mesh's members hold.
  const swarmKey = await readSwarmKey(dataDir)
  if (swarmKey === undefined) throw new Error(`no swarm key in ${dataDir} after joining the mesh`)
  const sealer = sealerOf(swarmKey)
  const closers: Array<() => Promise<void> | void> = [() => mesh.stop()]
  const closeAll = async () => { for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {}) }
  try {
    const store = await openStore({
      storage: await levelStorage(join(dataDir, 'raft')),
      // A write a peer does not read for an election timeout (8 ticks of 100 ms) is dropped: Raft retransmits.
      transport: meshTransport(mesh, { messageTimeoutMs: 1000 }),
      bootstrap: origin === 'founded',
      log: log.child('raft').info
    })
    closers.push(() => store.close())
    const leaderTerm = () => { const s = store.raft.status(); return s.role === 'leader' ? s.term : null }

    const presence = startPresence<HostRecord>({
      mesh, topic: HOSTS_TOPIC, ttlMs: 3 * GOSSIP_MS, intervalMs: GOSSIP_MS, check: hostRecordProblem,
      // Registered and reachable: the leader hears this host over Raft, not gossip.
      settled: () => { const i = store.state.instances[self]; return i !== undefined && !i.unreachable },
      log: log.child('presence').info
    })
    closers.push(() => presence.close())
    const gossipSelf = () => presence.set({ name, hostname: osHostname(), address: addressOf(listen, inventory), offer: offerOf(inventory, name, mode), warnings: inventory.warnings ?? [], version: VERSION })
    gossipSelf()

    const area = await prepareJobsArea({ dataDir, jobsDir: opts.jobsDir, log })
    const docker = containerRuntime(area.dir, endpoint)
    const runtime = hostRuntimes({
      process: processRuntime({ rootDir: area.dir }),
      docker: () => inventory.containerEngine !== null && docker.runtime !== null ? docker : { runtime: null, why: inventory.containerEngineWhy ?? docker.why ?? 'none answers' },
      kindOf: id => kindOfSubmission(store.state, id, mode)
    })
    // The engine may come, go and come back: each change is gossiped, so the scheduler places
    // container jobs only where one answers. An --inventory file that names the engine decides.
    if (endpoint !== null && !await inventoryNamesEngine(opts.inventoryFile)) {
      const probe = endpoint
      const timer = setInterval(() => {
        void probeEngine(probe).then(r => {
          const before = inventory.containerEngine
          if (JSON.stringify(before) === JSON.stringify(r.engine)) return
          inventory = { ...inventory, containerEngine: r.engine, ...('why' in r ? { containerEngineWhy: r.why } : { containerEngineWhy: undefined }) }
          if (r.engine) log.child('inventory').info('container engine answers', { engine: r.engine.name, version: r.engine.version })
          else log.child('inventory').warn('container engine gone', { why: inventory.containerEngineWhy })
          gossipSelf()
        })
      }, ENGINE_PROBE_MS)
      timer.unref()
      closers.push(() => clearInterval(timer))
    }
    const peers = await startPeerServices({ mesh, runtime, dataDir })
    closers.push(() => peers.close())

    const agent = startAgent({
      store, runtime, mode, area, node: self, dataDir, log: log.child('agent'), images: opts.images, sealer,
      hostGpus: inventory.gpus.map(g => ({ vendor: g.vendor, index: g.index, ...(g.uuid !== undefined ? { uuid: g.uuid } : {}) })),
      fetchCode: (run, dir) => peers.fetchCode(run.spec.code_node!, run.id, dir)
    })
    closers.push(() => agent.close())
    await agent.recovered
    // Sessions into jobs (SSH gateway, relayed exec, port forwards) are counted on the job's host.
    const activity = createActivity()
    const relay = await startPortRelay({ mesh, localPort: (submission, port) => agent.portOf(submission, port), opened: submission => activity.open(submission) })
    closers.push(() => relay.close())
    const local = localExec({ runtime, activity })
    const execRelay = await startExecRelay({ mesh, local, log: (msg, fields) => log.child('ssh').warn(msg, fields) })
    closers.push(() => execRelay.close())
    const jobAccess = createJobAccess({ self, local, relay: execRelay, connect: (node, submission, port) => relay.connect(node, submission, port) })
    const inactivity = watchInactivity({ store, node: self, activity, log: (msg, fields) => log.child('ssh').info(msg, fields) })
    closers.push(() => inactivity.close())

    // Who is alive, as the leader sees it: heard over Raft or gossip within the TTL. A new
    // leader has heard little from the others yet: for one TTL, silence proves nothing.
    const startedAt = Date.now()
    const lastSeen = (peer: string) => Math.max(store.raft.lastHeard(peer) ?? 0, presence.get(peer)?.seenAt ?? 0)
    const liveness = {
      records: () => presence.records(),
      // A member is heard over Raft several times a second; a host not yet added is heard only
      // through its gossip, so the gossip's own TTL applies to it.
      alive: (peer: string) => {
        if (peer === self) return true
        const s = store.raft.status()
        return s.voters.includes(peer) || s.learners.includes(peer) ? Date.now() - lastSeen(peer) <= HOST_TTL_MS : presence.alive(peer)
      },
      warmingUp: () => {
        const since = store.raft.leaderSince()
        return Date.now() - startedAt < HOST_TTL_MS || since === null || Date.now() - since < HOST_TTL_MS
      }
    }
    // Hosts deleted from the fleet (`dstack fleet delete local -i N`): cut off from the mesh. This
    // host itself, if deleted while up, says so: it takes no jobs and leaves Raft.
    const forgotten = new Set<string>()
    const forgetDeleted = (): void => {
      for (const i of Object.values(store.state.instances)) {
        if (i.status !== 'terminated' || forgotten.has(i.node)) continue
        forgotten.add(i.node)
        if (i.node === self) log.error(`this host was deleted from fleet ${i.fleet}: it takes no jobs and leaves the mesh. Stop dstackd; to bring the host back, join again with a fresh data dir`, { instance: i.name })
        else void mesh.forget(i.node)
      }
    }
    forgetDeleted()
    const offDeleted = store.subscribe(cmd => { if (cmd === null || cmd.type === 'instance.delete') forgetDeleted() })
    closers.push(offDeleted)
    const controller = startController(store, leaderTerm, log.child('scheduler'), opts.retention)
    closers.push(() => controller.close())
    const keeper = startHostKeeper({ store, presence, liveness, isLeader: leaderTerm, grace: opts.unreachableGrace, log: log.child('hosts') })
    closers.push(() => keeper.close())
    const autopilot = startAutopilot({
      raft: store.raft,
      alive: liveness.alive,
      peers: () => presence.records().map(r => r.peer),
      removed: peer => store.state.instances[peer]?.status === 'terminated',
      silentFor: peer => liveness.alive(peer) ? 0 : Date.now() - lastSeen(peer),
      log: log.child('autopilot').info
    })
    closers.push(() => autopilot.close())

    // What the leader last recorded of a host; gossip only for one it has not registered yet.
    const aliveInState = (id: string): boolean => {
      const i = store.state.instances[id]
      return i === undefined ? presence.alive(id) : !i.unreachable && i.status !== 'terminated'
    }
    const cluster = (): ClusterInfo => {
      const s = store.raft.status()
      // A member's place in the membership; this node's own also says whether it is campaigning.
      const placeOf = (id: string) => id === s.leader ? 'leader' : s.voters.includes(id) ? 'voter' : s.learners.includes(id) ? 'member' : 'joining'
      const role = s.role === 'candidate' || s.role === 'precandidate' ? 'candidate' : placeOf(self)
      const connected = new Map(mesh.peers().map(p => [p.id, p.addresses]))
      const ids = new Set([...presence.records().map(r => r.peer), ...s.voters, ...s.learners, ...connected.keys()])
      ids.delete(self)
      return {
        role, term: s.term, leader: s.leader, applied: s.applied, commit: s.commit,
        voters: [...s.voters], learners: [...s.learners], addresses: mesh.addresses(),
        peers: [...ids].sort().map(id => ({ id, name: presence.get(id)?.data.name ?? null, role: placeOf(id), alive: s.role === 'leader' ? liveness.alive(id) : aliveInState(id), addresses: connected.get(id) ?? [] }))
      }
    }

    const seeding = startSeeding({ store, leading: () => leaderTerm() !== null, adminTokenHash: hashToken(token), log: log.child('api').info })
    closers.push(() => seeding.close())

    // A founder leads at once: wait for it to register itself and to make the first admin and
    // the project main, so the first `apply` finds a host and a project.
    if (origin === 'founded') {
      const deadline = Date.now() + 5000
      while ((store.state.instances[self] === undefined || !seeding.seeded()) && Date.now() < deadline && leaderTerm() !== null) await new Promise(resolve => setTimeout(resolve, 10))
    }

    const socketPath = socketPathOf(dataDir)
    const apiLog = log.child('api')
    // Every call is authorized (api/access.ts): its token names a user, its project scopes it.
    const access = createAccess({ state: () => store.state, localToken: token })
    let gateway: SshGateway | undefined
    const sshInfo = (): SshInfo | undefined => gateway === undefined ? undefined : { port: gateway.port, hostKey: gateway.hostKey }
    const handlers = access.guard(methods, caller => createHandlers({
        store, dataDir, node: self, project: caller.project, user: caller.user, admin: caller.global_role === 'admin', version: VERSION,
        logs: (node, submission, o) => peers.logs(node, submission, o),
        connectJob: (node, submission, port) => relay.connect(node, submission, port),
        cluster,
        joinToken: () => mesh.joinToken(),
        sealer,
        ssh: sshInfo
      }), createUserHandlers(store))
    const info = (): object => ({ version: VERSION, node: self, name, ...(gateway !== undefined ? { ssh: sshInfo() } : {}) })
    // The gateway serves the same handlers over SSH (daemon/ssh/gateway.ts).
    const sshLog = log.child('ssh')
    try {
      gateway = await startSshGateway({
        port: opts.sshPort ?? DEFAULT_SSH_PORT, host: opts.sshHost, hostKey: await loadHostKey(dataDir), state: () => store.state,
        access, handlers, info, jobs: opts.jobAccess ?? jobAccess, log: sshLog
      })
      closers.push(() => gateway!.close())
      sshLog.info('ssh gateway listening', { port: gateway.port, hostKey: gateway.hostKey })
    } catch (err) {
      if (opts.sshPort !== undefined) throw err
      sshLog.warn(`${(err as Error).message}; running without an SSH gateway`)
    }
    const server = await createApiServer({
      socketPath,
      authenticate: credentials => access.authenticate(credentials),
      info: info(),
      handlers,
      log: event => { const { event: what, ...fields } = event as { event?: unknown }; apiLog.warn(String(what ?? 'api'), fields) }
    })
    closers.push(() => server.close())

    // A joining host that reaches nobody says so, with what to check (a wrong swarm key
    // looks the same as a dead address from here); a founder alone in its mesh stays quiet.
    const joinAddresses = opts.join === undefined ? [] : parseJoinToken(opts.join).bootstrap
    const reach = watchReach({
      log,
      facts: () => {
        const s = store.raft.status()
        return { role: cluster().role, connected: mesh.peers().length, members: [...s.voters, ...s.learners].filter(id => id !== self).length, joinAddresses }
      }
    })
    closers.push(() => reach.close())
    // What start-up made (the Raft db, the jobs' dir) got the default umask: private too. From
    // here on nothing above a new file is open to others.
    for (const name of await readdir(dataDir)) if (!madeBefore.has(name)) privacyProblems.push(...await makeTreePrivate(join(dataDir, name)))
    for (const p of privacyProblems) log.warn('cannot make this private to dstackd\'s user', { problem: p })
    log.info('dstackd ready', {
      socket: socketPath, node: self, name, version: VERSION, cpus: inventory.cpus, gpus: inventory.gpus.length,
      mesh: mesh.addresses(), origin, role: cluster().role, ...(gateway !== undefined ? { ssh: gateway.port } : {})
    })
    const ssh = sshInfo()
    return { socketPath, peerId: self, jobAccess, ...(ssh !== undefined ? { ssh } : {}), close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
