// What the methods clients call do (DESIGN.md, "A run, end to end"): plan, submit, list, watch,
// stop, logs, offers, fleets, events, artifacts. Their params arrive checked against the
// method table (methods.ts); reads come from this node's state, writes go through the store
// (the Raft leader on a cluster).
import { randomUUID } from 'node:crypto'
import { mkdir, open, writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import type { Duplex } from 'node:stream'
import {
  ConfigError, formatDuration, formatResources, needsContainer, offerMismatch, parseRunConfiguration,
  type Requirements, type RunConfiguration
} from '../config/index.ts'
import type { LogChunk, LogsOptions } from '../../drivers/runtime/index.ts'
import { artifactsDir, listArtifacts } from '../agent/artifacts.ts'
import { requirementsOf, shareOf } from '../scheduler/index.ts'
import { jobSpecsFor } from '../state/jobs.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import { isRunFinal } from '../state/machine.ts'
import { randomNameBase } from '../state/names.ts'
import type { StateStore } from '../state/store.ts'
import type { Run, RunSpec, State } from '../state/types.ts'
import { RpcError } from '../../mesh/rpc/protocol.ts'
import type { Handlers } from '../../mesh/rpc/server.ts'
import { eventVisible } from './access.ts'
import { bindMethods, type ParamsOf } from './methods.ts'
import { checkUpdate } from './update.ts'
import { redactRegistryAuth, registryAuthFor, type Sealer } from '../agent/registry-auth.ts'
import { fleetView, jobView, offerView, runView, type ClusterInfo, type OfferView, type Plan, type Rejection, type RunView, type SshInfo } from './views.ts'

export type { ClusterInfo } from './views.ts'

export interface HandlerDeps {
  store: StateStore
  /** A job's output, wherever it runs (daemon/api/peers.ts). */
  logs: (node: string, submission: string, opts: LogsOptions) => AsyncIterable<LogChunk>
  cluster: () => ClusterInfo
  /** A byte stream to `port` of the job submission `submission` running on `node` (api/ports.ts). */
  connectJob?: (node: string, submission: string, port: number) => Promise<Duplex>
  /** The mesh's join token (a secret: only for the admin socket). */
  joinToken: () => string
  dataDir: string
  node: string
  /** The caller's project and user name (daemon/api/access.ts makes one set of handlers per pair). */
  project: string
  user: string
  /** The caller is a global admin: the audit stream shows users' events too. */
  admin?: boolean
  version: string
  /** Seals registry_auth for the job specs (agent/registry-auth.ts). */
  sealer: Sealer
  /** This node's SSH gateway, for `server.info` (absent: it runs none). */
  ssh?: () => SshInfo | undefined
}

function bad (message: string): never {
  throw new RpcError('invalid', message)
}

function configurationOf (v: unknown): RunConfiguration {
  // The one judgement `dstack validate` and `dstack apply` make too (daemon/config/support.ts).
  try {
    return parseRunConfiguration(v)
  } catch (err) {
    if (err instanceof ConfigError) throw new RpcError('invalid', err.message)
    throw err
  }
}

/** The run of that name in the project: the active one, else the latest. */
export function findRun (state: State, project: string, name: string): Run | undefined {
  const runs = Object.values(state.runs).filter(r => r.project === project && r.name === name)
  return runs.find(r => !isRunFinal(r.status)) ?? runs.sort((a, b) => b.submitted_at - a.submitted_at)[0]
}

function mustFindRun (state: State, project: string, name: string): Run {
  const run = findRun(state, project, name)
  if (!run) throw new RpcError('not_found', `run ${name} not found`)
  return run
}

function offersFor (state: State, req: Requirements): { offers: OfferView[], rejected: Rejection[] } {
  const offers: OfferView[] = []
  const rejected: Rejection[] = []
  for (const i of Object.values(state.instances)) {
    // Matched as the scheduler matches it: the share of the host a job would take.
    const why = offerMismatch(shareOf(i.offer, req), req)
    if (why) { rejected.push({ instance: i.name, reason: why }); continue }
    offers.push(offerView(i))
  }
  return { offers: offers.sort((a, b) => a.price - b.price), rejected }
}

/**
 * A run whose jobs need a container, in a fleet where no host has a container engine, is
 * refused before it is submitted: a clear error now rather than a failed run later. A host
 * whose engine is not known (no inventory of it) counts as having one.
 */
function checkContainerEngine (state: State, c: RunConfiguration): void {
  if (!needsContainer(c)) return
  const hosts = Object.values(state.instances).filter(i => i.status !== 'terminated' && i.status !== 'terminating')
  if (hosts.length === 0 || hosts.some(i => i.offer.container_engine !== null)) return
  const what = c.image !== null ? `\`image: ${c.image}\`` : c.docker === true ? '`docker: true`' : '`nvcc: true`'
  throw new RpcError('invalid', `${what} needs a container engine, and no host of the fleet has one (\`dstack fleet -v\` shows each host's engine): start Docker on a host, or run without a container`)
}

/** Resolves at the next applied command (or when the signal aborts). */
function nextChange (store: StateStore, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const done = () => { unsubscribe(); signal.removeEventListener('abort', done); resolve() }
    const unsubscribe = store.subscribe(done)
    signal.addEventListener('abort', done)
  })
}

/** Yields at once, then after each batch of applied commands. */
async function * changes (store: StateStore, signal: AbortSignal): AsyncGenerator<void> {
  let wake: (() => void) | null = null
  let dirty = true
  const unsubscribe = store.subscribe(() => { dirty = true; wake?.() })
  const onAbort = () => wake?.()
  signal.addEventListener('abort', onAbort)
  try {
    while (!signal.aborted) {
      if (!dirty) await new Promise<void>(resolve => { wake = resolve })
      wake = null
      if (signal.aborted) return
      dirty = false
      yield
    }
  } finally {
    unsubscribe()
    signal.removeEventListener('abort', onAbort)
  }
}

/** The files a submission brings (the local repo, `files`), kept for the run's jobs to start with. */
async function saveCode (dir: string, code: ParamsOf<'runs.submit'>['code']): Promise<boolean> {
  if (code === undefined || code === null || code.length === 0) return false
  for (const f of code) {
    const target = join(dir, f.path)
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, Buffer.from(f.data ?? '', 'base64'), { mode: f.mode ?? 0o644 })
  }
  return true
}

export function createHandlers (deps: HandlerDeps): Handlers {
  const { store, project } = deps
  const state = () => store.state

  /** What `dstack apply` shows before it asks: the offers, and what would happen to an active run of the same name. */
  function planFor (configuration: RunConfiguration): Plan {
    checkContainerEngine(state(), configuration)
    const req = requirementsOf(configuration)
    const { offers, rejected } = offersFor(state(), req)
    const name = configuration.name
    const active = name ? findRun(state(), project, name) : undefined
    let existing = null
    if (active && !isRunFinal(active.status)) {
      const verdict = checkUpdate(active.spec.configuration, configuration)
      existing = { name: active.name, status: active.status, ...verdict }
    }
    return {
      project, user: deps.user,
      type: configuration.type,
      resources: formatResources(configuration.resources),
      spot_policy: configuration.spot_policy,
      max_price: configuration.max_price,
      retry: configuration.retry,
      idle_duration: formatDuration(configuration.idle_duration < 0 ? 'off' : configuration.idle_duration),
      max_duration: formatDuration(configuration.max_duration),
      offers, total_offers: offers.length, rejected, existing
    }
  }

  /** `submitted` as parsed, registry_auth included: it is kept and shown redacted (planFor gets it so). */
  async function submit (p: ParamsOf<'runs.submit'>, submitted: RunConfiguration): Promise<{ run: RunView, action: 'submitted' | 'updated' | 'unchanged' }> {
    checkContainerEngine(state(), submitted)
    let registryAuth
    try {
      registryAuth = registryAuthFor(submitted, p.registry_auth)
    } catch (err) {
      bad((err as Error).message)
    }
    // Kept and shown without a literal password; the credentials go to the jobs sealed.
    const configuration = redactRegistryAuth(submitted)
    const jobEnv = p.env ?? {}
    for (const [k, v] of Object.entries(jobEnv)) if (/\$\{\{\s*secrets\./.test(v)) bad(`env.${k} uses a secret: secrets are not available yet`)
    const name = configuration.name ?? p.name ?? null
    const workflow: RunSpec['workflow'] = p.workflow ?? null
    const spec: RunSpec = { run_name: name ?? '', configuration, configuration_path: p.configuration_path || null, workflow, code_node: null }
    const active = name ? findRun(state(), project, name) : undefined
    if (active && !isRunFinal(active.status)) {
      const verdict = checkUpdate(active.spec.configuration, configuration)
      if (verdict.kind === 'unchanged' && p.force !== true) return { run: runView(state(), active), action: 'unchanged' }
      if (verdict.kind === 'impossible') throw new RpcError('conflict', `Cannot override active run. Stop the run first. (${verdict.reason})`)
      const res = await store.propose({ type: 'run.update', at: Date.now(), run_id: active.id, spec, priority: configuration.priority })
      if (!res.ok) throw new RpcError(res.code, res.message)
      return { run: runView(state(), res.run!), action: 'updated' }
    }
    let specs
    try {
      specs = jobSpecsFor(configuration, jobEnv)
      if (registryAuth) { const sealed = deps.sealer.seal(registryAuth); specs = specs.map(s => ({ ...s, registry_auth: sealed })) }
    } catch (err) {
      throw new RpcError('invalid', (err as Error).message)
    }
    const runId = randomUUID()
    if (await saveCode(join(deps.dataDir, 'code', runId), p.code)) spec.code_node = deps.node
    const res = await store.propose({
      type: 'run.submit', at: Date.now(),
      run: { id: runId, name, name_base: randomNameBase(), project, user: deps.user, priority: configuration.priority, spec },
      jobs: specs.map(s => ({ id: randomUUID(), submission_id: randomUUID(), spec: s }))
    })
    if (!res.ok) throw new RpcError(res.code, res.message)
    return { run: runView(state(), res.run!), action: 'submitted' }
  }

  return bindMethods(['client', 'admin'], {
    async 'server.info' () {
      const c = deps.cluster()
      const ssh = deps.ssh?.()
      return { version: deps.version, node: deps.node, project, user: deps.user, role: c.role, index: state().index, cluster: c, ...(ssh !== undefined ? { ssh } : {}) }
    },

    async 'mesh.token' () {
      return { token: deps.joinToken() }
    },

    async 'runs.plan' (p) {
      return planFor(redactRegistryAuth(configurationOf(p.configuration)))
    },

    async 'runs.submit' (p) {
      return await submit(p, configurationOf(p.configuration))
    },

    async 'runs.apply' (p) {
      const submitted = configurationOf(p.configuration)
      const plan = planFor(redactRegistryAuth(submitted))
      if (plan.existing?.kind === 'impossible') return { plan, run: null, action: 'refused' }
      return { plan, ...await submit(p, submitted) }
    },

    async 'runs.list' (p) {
      const all = p?.all === true
      const limit = p?.limit ?? 0
      let runs = Object.values(state().runs).filter(r => r.project === project).sort((a, b) => b.submitted_at - a.submitted_at)
      if (!all && !limit) {
        const lastFinished = runs.find(r => isRunFinal(r.status))
        runs = runs.filter(r => !isRunFinal(r.status) || r === lastFinished)
      }
      if (limit) runs = runs.slice(0, limit)
      return { project, runs: runs.map(r => runView(state(), r)) }
    },

    async 'runs.get' (p) {
      const run = mustFindRun(state(), project, p.name)
      return { ...runView(state(), run), configuration: run.spec.configuration }
    },

    'runs.watch' (p, ctx) {
      const name = p?.name ?? null
      return (async function * () {
        let last = ''
        for await (const _ of changes(store, ctx.signal)) {
          const s = state()
          const runs = name ? [mustFindRun(s, project, name)] : Object.values(s.runs).filter(r => r.project === project && !isRunFinal(r.status))
          const views = runs.map(r => runView(s, r))
          const text = JSON.stringify(views)
          if (text === last) continue
          last = text
          yield { runs: views, index: s.index }
        }
      })()
    },

    async 'runs.stop' (p) {
      const abort = p.abort === true
      const stopped = []
      for (const n of p.names) {
        const run = mustFindRun(state(), project, n)
        const res = await store.propose({ type: 'run.stop', at: Date.now(), run_id: run.id, abort })
        if (!res.ok) throw new RpcError(res.code, res.message)
        stopped.push(n)
      }
      return { stopped, abort }
    },

    logs (p, ctx) {
      const run = mustFindRun(state(), project, p.run)
      const replica = p.replica ?? 0
      const jobNum = p.job ?? 0
      const follow = p.follow === true
      const since = p.since ?? undefined
      const job = run.job_ids.map(id => state().jobs[id]!).find(j => j.spec.replica_num === replica && j.spec.job_num === jobNum)
      if (!job) throw new RpcError('not_found', `run ${run.name} has no job ${jobNum} in replica ${replica}`)
      return (async function * () {
        // The latest submission's output: earlier attempts of a retried job are history.
        const started = job.submissions.map(x => x.started_at !== null)
        let index = follow ? job.submissions.length - 1 : Math.max(0, started.lastIndexOf(true))
        for (;;) {
          // Wait for the submission to exist and to have started (or ended without starting).
          while (!ctx.signal.aborted) {
            const sub = job.submissions[index]
            if (sub && (sub.started_at !== null || isFinal(sub.status))) break
            if (!follow) return
            await nextChange(store, ctx.signal)
          }
          if (ctx.signal.aborted) return
          const sub = job.submissions[index]!
          if (sub.started_at !== null) {
            for await (const chunk of deps.logs(sub.placement?.node ?? deps.node, sub.id, { since, follow, signal: ctx.signal })) {
              yield { submission: sub.submission_num, at: chunk.at, data: chunk.data.toString('base64') }
            }
          }
          index++
          const r = state().runs[run.id]!
          if (!follow || (isRunFinal(r.status) && index >= job.submissions.length)) return
          // A retried job continues in its next submission.
          while (!ctx.signal.aborted && index >= job.submissions.length && !isRunFinal(state().runs[run.id]!.status)) {
            await nextChange(store, ctx.signal)
          }
          if (index >= job.submissions.length) return
        }
      })()
    },

    async 'offers.list' (p) {
      const configuration = configurationOf(p?.configuration ?? { type: 'task', commands: ['true'] })
      const req = requirementsOf(configuration)
      const { offers, rejected } = offersFor(state(), req)
      return { project, user: deps.user, requirements: { resources: formatResources(configuration.resources), spot_policy: configuration.spot_policy, max_price: configuration.max_price }, offers, total_offers: offers.length, rejected }
    },

    async 'fleets.list' () {
      return { project, fleets: Object.values(state().fleets).map(f => fleetView(state(), f)) }
    },

    async 'fleets.get' (p) {
      const name = p.name
      const fleet = Object.values(state().fleets).find(f => f.name === name)
      if (!fleet) throw new RpcError('not_found', `fleet ${name} not found`)
      return fleetView(state(), fleet)
    },

    // `dstack fleet delete NAME -i N…`: the mesh fleet's hosts are deleted one by one; the fleet
    // itself is the mesh and cannot be.
    async 'fleets.delete' (p) {
      const name = p.name
      const fleet = Object.values(state().fleets).find(f => f.name === name)
      if (!fleet) throw new RpcError('not_found', `fleet ${name} not found`)
      const nums = p.instances ?? []
      if (nums.length === 0) {
        bad(`fleet ${name} is the mesh itself and cannot be deleted whole: delete its hosts with -i NUM (see \`dstack fleet get ${name}\`), or stop dstackd on each`)
      }
      const leader = deps.cluster().leader
      const ids = nums.map(num => {
        const id = fleet.instance_ids[num]
        const instance = id === undefined ? undefined : state().instances[id]
        if (instance === undefined || instance.status === 'terminated') throw new RpcError('not_found', `fleet ${name} has no instance ${num} (see \`dstack fleet get ${name}\`)`)
        if (instance.node === leader) {
          throw new RpcError('conflict', `instance ${num} (${instance.name}) leads the mesh now: stop dstackd there first (another host takes over within seconds), then delete it`)
        }
        return instance.id
      })
      const deleted = []
      for (const id of ids) {
        const res = await store.propose({ type: 'instance.delete', at: Date.now(), instance_id: id, by: deps.user })
        if (!res.ok) throw new RpcError(res.code, res.message)
        deleted.push(state().instances[id]!.name)
      }
      return { fleet: name, deleted }
    },

    'events.list' (p, ctx) {
      const after = p?.after ?? 0
      const runName = p?.run ?? null
      const follow = p?.follow === true
      return (async function * () {
        let seq = after
        for await (const _ of changes(store, ctx.signal)) {
          for (const e of state().events) {
            if (e.seq <= seq) continue
            seq = e.seq
            if (runName && e.run !== runName) continue
            if (!eventVisible(e, project, deps.admin === true)) continue
            yield e
          }
          if (!follow) return
        }
      })()
    },

    async 'artifacts.list' (p) {
      const run = mustFindRun(state(), project, p.run)
      return { run: run.name, files: await listArtifacts(deps.dataDir, run) }
    },

    'artifacts.read' (p, ctx) {
      const run = mustFindRun(state(), project, p.run)
      const path = p.path
      return (async function * () {
        const files = await listArtifacts(deps.dataDir, run)
        if (!files.some(f => f.path === path)) throw new RpcError('not_found', `run ${run.name} has no artifact ${path}`)
        const fh = await open(join(artifactsDir(deps.dataDir, run), path), 'r')
        try {
          const buf = Buffer.alloc(256 * 1024)
          for (;;) {
            if (ctx.signal.aborted) return
            const { bytesRead } = await fh.read(buf, 0, buf.length, null)
            if (bytesRead === 0) return
            yield { data: buf.subarray(0, bytesRead).toString('base64') }
          }
        } finally {
          await fh.close()
        }
      })()
    },

    'jobs.forward' (p, ctx) {
      const run = mustFindRun(state(), project, p.run)
      const replica = p.replica ?? 0
      const jobNum = p.job ?? 0
      const jobId = run.job_ids.find(id => { const j = state().jobs[id]!; return j.spec.replica_num === replica && j.spec.job_num === jobNum })
      if (jobId === undefined) throw new RpcError('not_found', `run ${run.name} has no job ${jobNum} in replica ${replica}`)
      const connectJob = deps.connectJob
      if (connectJob === undefined) throw new RpcError('unavailable', 'this daemon relays no job ports')
      return (async function * () {
        const sockets = new Set<Socket>()
        // Each connection goes to the job's latest submission, wherever it runs by then.
        const server = createServer(socket => {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => {})
          const sub = latest(state().jobs[jobId]!)
          if (sub.status !== 'running' || sub.placement === null) { socket.destroy(); return }
          connectJob(sub.placement.node, sub.id, p.port).then(target => {
            if (socket.destroyed) { target.destroy(); return }
            target.on('error', () => socket.destroy())
            socket.on('close', () => target.destroy())
            target.on('close', () => socket.destroy())
            socket.pipe(target)
            target.pipe(socket)
          }, () => socket.destroy())
        })
        await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
        try {
          yield { host: '127.0.0.1', port: (server.address() as { port: number }).port }
          if (!ctx.signal.aborted) await new Promise(resolve => ctx.signal.addEventListener('abort', resolve, { once: true }))
        } finally {
          server.close()
          for (const s of sockets) s.destroy()
        }
      })()
    },

    async 'jobs.get' (p) {
      const run = mustFindRun(state(), project, p.run)
      return run.job_ids.map(id => jobView(state().jobs[id]!))
    },
  })
}
