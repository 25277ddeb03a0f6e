// The agent: this host's hands. It watches the state for job submissions placed on this node,
// starts them in the runtime, stops them when they are told to terminate, and reports every
// change back as a command. After a restart it re-adopts what still runs (`recover`). It knows
// a job only through the Runtime interface, never through a runtime's own files.
import { readdir, rm, stat } from 'node:fs/promises'
import { constants } from 'node:os'
import { join } from 'node:path'
import { isJobExit, type JobDevice, type JobExit, type JobInfo, type Runtime } from '../../drivers/runtime/index.ts'
import { progressThrottle } from '../../drivers/runtime/docker/pull-progress.ts'
import { RpcError } from '../../mesh/rpc/protocol.ts'
import { activeJobs } from '../state/active.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { ApplyResult, Command, Compacted } from '../state/machine.ts'
import type { StateStore } from '../state/store.ts'
import type { Job, JobSubmission, Run, State } from '../state/types.ts'
import { saveArtifacts } from './artifacts.ts'
import { runtimeFor, type RuntimeMode } from './container.ts'
import { chooseImage, dstackImageTable, type ImageTable } from './images.ts'
import type { Sealer } from './registry-auth.ts'
import { jobWorkingDir, type HostGpu } from './environment.ts'
import type { JobsArea } from './jobs-area.ts'
import { prepareWorkspace, type ContainerChoice } from './workspace.ts'

export interface AgentOptions {
  /** Only `state`, `propose` and `subscribe` are used. */
  store: Pick<StateStore, 'state' | 'propose' | 'subscribe'>
  /** Runs every job of this host: a job with a ContainerSpec in a container (hostRuntimes). */
  runtime: Runtime
  /** Which jobs run in a container here (default auto: those that need one). */
  mode?: RuntimeMode
  /** Where job directories go, and who jobs run as (prepareJobsArea). */
  area: JobsArea
  /** This host's GPUs in offer order, for the devices each job may see. */
  hostGpus?: readonly HostGpu[]
  /** Brings a run's code to `dir` from the node that took the submission, when it is not this one. */
  fetchCode?: (run: Run, dir: string) => Promise<void>
  /** This host's node id: the agent acts on submissions placed here. */
  node: string
  dataDir: string
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void
  /** Seconds a stopped job gets between SIGINT and SIGKILL (dstack's runner waits 10 s). */
  stopGraceSeconds?: number
  /** The images container jobs run in when they name none (chooseImage; default dstackImageTable()). */
  images?: ImageTable
  /** Opens a job's sealed registry_auth (job.spec.registry_auth) for the container's pull. */
  sealer?: Sealer
}

export interface Agent {
  /** Resolves once every job this node had before a restart was re-adopted or reported. */
  readonly recovered: Promise<void>
  /**
   * The port of 127.0.0.1 where this host's running job `submission` listens on its `port`:
   * the host port a container's port was published on, or the port itself for a process job.
   * Throws (RpcError not_found) when the job does not run here or does not publish the port.
   */
  portOf (submission: string, port: number): number
  close (): void
}

type Local = { job: Job, sub: JobSubmission, stopping: 'stop' | 'kill' | null, exited: boolean, info?: JobInfo }

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false)

/** Placed here and not started yet: `pulling` is part of starting (its image comes first). */
const notStarted = (sub: JobSubmission): boolean => sub.status === 'provisioning' || sub.status === 'pulling'

/** Pull progress goes into the replicated log no more often than this. */
const PROGRESS_REPORT_MS = 1000

/** Between two tries of a report that could not be recorded (no leader: a partition, say). */
const REPORT_RETRY_MS = [250, 500, 1000, 2000, 5000]

/** A run's code this young may belong to a submission not yet in the log: a sweep leaves it. */
const CODE_GRACE_MS = 10 * 60 * 1000

/**
 * May this job start now (SPEC §3.6 `startup_order`)? `master-first`: workers wait for the
 * master to run; `workers-first`: the master waits for every worker.
 */
export function startupAllows (state: State, run: Run, job: Job): boolean {
  const order = run.spec.configuration.startup_order
  if (order === 'any' || job.spec.jobs_per_replica < 2) return true
  const replica = run.job_ids.map(id => state.jobs[id]!).filter(j => j.spec.replica_num === job.spec.replica_num)
  const isRunning = (j: Job) => { const s = latest(j).status; return s === 'running' || s === 'done' }
  if (order === 'master-first') return job.spec.job_num === 0 || replica.filter(j => j.spec.job_num === 0).every(isRunning)
  return job.spec.job_num !== 0 || replica.filter(j => j.spec.job_num !== 0).every(isRunning)
}

/**
 * cgroup limits: the upper end of what the job asked for. The scheduler reserves the lower
 * end; a job that gave no upper bound may use what the host has free.
 */
function limitsOf (job: Job): { cpus?: number, memoryBytes?: number } {
  const r = job.spec.resources
  return {
    cpus: r.cpu.count.max ?? undefined,
    memoryBytes: r.memory.max === null ? undefined : Math.round(r.memory.max * 1024 ** 3)
  }
}

export function startAgent (opts: AgentOptions): Agent {
  const { store, runtime, node } = opts
  const grace = (opts.stopGraceSeconds ?? 10) * 1000
  const running = new Map<string, Local>()
  const starting = new Set<string>()
  let closed = false

  // A job's reports go out one after another, each tried until it is recorded: on the minority
  // side of a partition a job that ends keeps its report until the mesh heals, so the history
  // has it exactly as it happened here.
  const reports = new Map<string, Promise<unknown>>()
  const propose = (cmd: Command): Promise<ApplyResult | null> => {
    const key = cmd.type === 'job.status' ? cmd.submission_id : ''
    const next = (reports.get(key) ?? Promise.resolve()).then(() => record(cmd))
    const tail = next.catch(() => undefined)
    reports.set(key, tail)
    void tail.then(() => { if (reports.get(key) === tail) reports.delete(key) })
    return next
  }
  async function record (cmd: Command): Promise<ApplyResult | null> {
    for (let attempt = 0; ; attempt++) {
      if (closed) return null
      try {
        return await store.propose(cmd)
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === 'closed') return null
        if (attempt === 0 || attempt % 20 === 0) opts.log('warn', 'could not record a job change yet; retrying', { error: (err as Error).message, command: cmd.type, attempts: attempt + 1 })
        await new Promise(resolve => setTimeout(resolve, REPORT_RETRY_MS[Math.min(attempt, REPORT_RETRY_MS.length - 1)]))
      }
    }
  }

  // Jobs started before job directories left the data dir run on where they are.
  const legacyDirs = new Map<string, string>()
  const jobDir = (sub: JobSubmission) => legacyDirs.get(sub.id) ?? join(opts.area.dir, sub.id)
  const workingDirOf = (job: Job, sub: JobSubmission) => jobWorkingDir(jobDir(sub), job.spec.working_dir)
  const save = (run: Run, job: Job, sub: JobSubmission) => saveArtifacts(opts.dataDir, opts.area.dir, run, workingDirOf(job, sub))

  function mine (state: State): Array<{ run: Run, job: Job, sub: JobSubmission }> {
    const out = []
    for (const { job, sub } of activeJobs(state)) {
      if (sub.placement?.node !== node) continue
      const run = state.runs[job.run_id]
      if (run) out.push({ run, job, sub })
    }
    return out
  }

  /**
   * Jobs placed here that ended in the state while this host was away (given up as
   * unreachable, say): a restart looks for them too, and one still running is adopted so that
   * reconcile kills it, even when this node had caught up with the state before it looked.
   */
  function endedHere (state: State): Array<{ run: Run, job: Job, sub: JobSubmission }> {
    const out = []
    for (const job of Object.values(state.jobs)) {
      const last = latest(job)
      for (const sub of job.submissions) {
        // The latest attempt, or an older one given up as unreachable: by the time this host
        // looks, its run may have been retried elsewhere, and the old attempt still runs here.
        if (sub !== last && sub.termination_reason !== 'instance_unreachable') continue
        if (sub.placement?.node !== node || !isFinal(sub.status)) continue
        const run = state.runs[job.run_id]
        if (run) out.push({ run, job, sub })
      }
    }
    return out
  }

  async function report (job: Job, sub: JobSubmission, exit: JobExit): Promise<void> {
    const base = { type: 'job.status' as const, at: Date.now(), job_id: job.id, submission_id: sub.id }
    if (exit.reason === 'exited' && exit.exitCode === 0) {
      await propose({ ...base, status: 'done', reason: 'done_by_runner', exit_status: 0 })
    } else if (exit.reason === 'exited') {
      // dstack's reason says "container": the message says what happened here.
      const message = exit.message ?? (exit.exitCode === null ? `killed by ${exit.signal ?? 'a signal'}` : `the command exited with status ${exit.exitCode}`)
      // A process killed by a signal reports 128 + its number, as a shell and docker do.
      const signalled = exit.signal ? 128 + (constants.signals[exit.signal as keyof typeof constants.signals] ?? 0) : null
      await propose({ ...base, status: 'failed', reason: 'container_exited_with_error', exit_status: exit.exitCode ?? signalled, message })
    } else if (exit.reason === 'max_duration_exceeded') {
      await propose({ ...base, status: 'terminated', reason: 'max_duration_exceeded', exit_status: exit.exitCode, message: exit.message ?? null })
    } else if (exit.reason === 'lost') {
      await propose({ ...base, status: 'failed', reason: 'executor_error', message: exit.message ?? 'the job\'s process disappeared' })
    } else {
      // stopped or killed on request: the termination reason already recorded decides the status.
      await propose({ ...base, status: 'terminated', exit_status: exit.exitCode })
    }
  }

  async function follow (run: Run, job: Job, sub: JobSubmission): Promise<void> {
    let exit: JobExit
    try {
      exit = await runtime.wait(sub.id)
    } catch (err) {
      exit = { exitCode: null, signal: null, reason: 'lost', finishedAt: Date.now(), message: `lost track of the job: ${(err as Error).message}` }
    }
    const local = running.get(sub.id)
    if (local) local.exited = true
    // The entry stays until the exit is recorded, so reconcile never reports this job twice.
    if (run.spec.workflow) await save(run, job, sub).catch(err => opts.log('warn', 'saving artifacts failed', { run: run.name, error: String(err) }))
    await report(job, sub, exit)
    running.delete(sub.id)
    await release(sub.id)
  }

  /** A recorded exit frees what the runtime keeps of the job (a container); its output stays in the job dir. */
  async function release (id: string): Promise<void> {
    if (closed) return
    await runtime.remove?.(id).catch(err => opts.log('warn', 'could not free a finished job', { submission: id, error: String(err) }))
  }

  /** The image and devices of a job that runs in a container here; null for a process job. */
  function containerOf (run: Run, job: Job, sub: JobSubmission): ContainerChoice | null {
    const c = run.spec.configuration
    if (runtimeFor(opts.mode ?? 'auto', c) !== 'docker') return null
    const { image } = chooseImage(c, opts.images ?? dstackImageTable())
    const sealed = job.spec.registry_auth ?? null
    if (sealed !== null && opts.sealer === undefined) throw new Error('the job\'s registry_auth cannot be opened on this host')
    const registryAuth = sealed === null ? null : opts.sealer!.open(sealed)
    const devices = (sub.placement?.gpu_slots ?? []).flatMap(slot => {
      const g = opts.hostGpus?.[slot]
      return g === undefined ? [] : [{ vendor: g.vendor, index: g.index, ...(g.uuid !== undefined ? { uuid: g.uuid } : {}) }]
    })
    return { image, registryAuth, devices }
  }

  async function start (run: Run, job: Job, sub: JobSubmission): Promise<void> {
    starting.add(sub.id)
    const failed = async (why: string) => {
      opts.log('error', 'job failed to start', { job: job.spec.job_name, error: why })
      await propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'failed', reason: 'executor_error', message: `could not start: ${why}` })
    }
    try {
      const dir = jobDir(sub)
      const ws = await prepareWorkspace({
        state: store.state, run, job, sub, dir, dataDir: opts.dataDir, area: opts.area, node,
        hostGpus: opts.hostGpus, fetchCode: opts.fetchCode, container: containerOf(run, job, sub)
      })
      // An image pull shows as `pulling` with its progress, recorded at most once a second.
      let pulling = true
      const pull = progressThrottle(text => {
        if (pulling) void propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'pulling', progress: text })
      }, PROGRESS_REPORT_MS)
      const started = await runtime.start({
        id: sub.id,
        dir,
        ...ws,
        limits: limitsOf(job),
        maxDurationSec: job.spec.max_duration === 'off' ? null : job.spec.max_duration
      }, { progress: text => pull.push(text) }).finally(() => { pulling = false })
      if (isJobExit(started)) { await failed(started.message ?? 'the command could not be started'); return }
      running.set(sub.id, { job, sub, stopping: null, exited: false, info: started })
      opts.log('info', 'job started', { job: job.spec.job_name, submission: sub.id, pid: started.pid, term: sub.placement?.term, index: sub.placement?.index })
      const limits = started.limits.applied || started.limits.why === 'no limits requested' ? null : `no resource limits: ${started.limits.why ?? 'not supported on this host'}`
      // A container keeps the job from dstackd's files, whoever it runs as.
      const user = ws.user || ws.container ? null : opts.area.note
      await propose({
        type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'running',
        limits_note: [limits, user, ...started.notes ?? []].filter(Boolean).join('; ') || null
      })
      void follow(run, job, sub)
    } catch (err) {
      await failed((err as Error).message)
    } finally {
      starting.delete(sub.id)
    }
  }

  async function stop (local: Local, kind: 'stop' | 'kill'): Promise<void> {
    if (local.stopping === 'kill' || local.stopping === kind) return
    local.stopping = kind
    try {
      if (kind === 'kill') await runtime.kill(local.sub.id)
      else await runtime.stop(local.sub.id, grace)
    } catch (err) {
      opts.log('warn', 'stopping a job failed', { submission: local.sub.id, error: String(err) })
    }
  }

  function reconcile (): void {
    if (closed) return
    const state = store.state
    for (const { run, job, sub } of mine(state)) {
      const local = running.get(sub.id)
      if (notStarted(sub) && !local && !starting.has(sub.id)) {
        if (startupAllows(state, run, job)) void start(run, job, sub)
      }
      else if (sub.status === 'terminating' && local) void stop(local, sub.termination_reason === 'aborted_by_user' ? 'kill' : 'stop')
      else if (sub.status === 'terminating' && !local && !starting.has(sub.id)) {
        // Told to stop a job that never started here: it simply ends.
        void propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'terminated' })
      }
    }
    // A job that ended in the state while this host was away (aborted, say) must not run on.
    for (const local of running.values()) {
      if (local.exited || local.stopping === 'kill') continue
      const sub = state.jobs[local.job.id]?.submissions.find(s => s.id === local.sub.id)
      if (sub === undefined || isFinal(sub.status)) {
        opts.log('info', 'stopping a job that ended elsewhere', { job: local.job.spec.job_name, submission: local.sub.id, status: sub?.status })
        void stop(local, 'kill')
      }
    }
  }

  async function recover (): Promise<void> {
    for (const { run, job, sub } of [...mine(store.state), ...endedHere(store.state)]) {
      starting.add(sub.id)
      try {
        const legacy = join(opts.dataDir, 'jobs', sub.id)
        if (await exists(legacy)) legacyDirs.set(sub.id, legacy)
        // Not started before the restart: reconcile starts it. Started, but killed before the
        // `running` report was recorded: the runtime has it, so it is adopted, not started twice.
        const found = await runtime.recover(sub.id, jobDir(sub)).catch((err): JobExit => ({
          exitCode: null, signal: null, reason: 'lost', finishedAt: Date.now(), message: `could not re-adopt the job after a restart: ${(err as Error).message}`
        }))
        if (found === null) {
          if (!notStarted(sub) && !isFinal(sub.status)) void report(job, sub, { exitCode: null, signal: null, reason: 'lost', finishedAt: Date.now(), message: 'the job was not found on this host after a restart' })
          continue
        }
        if (!isJobExit(found)) {
          running.set(sub.id, { job, sub, stopping: null, exited: false, info: found })
          opts.log('info', 'job re-adopted', { job: job.spec.job_name, submission: sub.id, pid: found.pid })
          if (notStarted(sub)) void propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'running' })
          void follow(run, job, sub)
        } else if (!isFinal(sub.status)) {
          opts.log('info', 'job ended while dstackd was down', { job: job.spec.job_name, reason: found.reason })
          // It ran (its output is there) even if its start was never recorded.
          if (notStarted(sub) && found.reason !== 'lost') void propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'running' })
          if (run.spec.workflow) await save(run, job, sub).catch(() => undefined)
          await report(job, sub, found)
        }
        if (isJobExit(found)) await release(sub.id)
      } finally {
        starting.delete(sub.id)
      }
    }
  }

  // Runs compacted out of the history (state/retention.ts) take their job directories (output
  // logs included) and code with them. A compaction this host missed while it was down is made
  // up for at the first one it sees after a start: by then it has caught up with the log, so
  // whatever the state no longer names is gone for good. Code younger than a few minutes may
  // belong to a submission still on its way to the log, and stays.
  const codeDir = (runId: string) => join(opts.dataDir, 'code', runId)
  const removeDir = (dir: string) => rm(dir, { recursive: true, force: true })
    .catch(err => opts.log('warn', 'could not delete a compacted run\'s files', { dir, error: String(err) }))
  let swept = false
  async function forget (compacted: Compacted[]): Promise<void> {
    for (const { run, jobs } of compacted) {
      for (const job of jobs) for (const sub of job.submissions) if (sub.placement?.node === node && !running.has(sub.id)) await removeDir(jobDir(sub))
      await removeDir(codeDir(run.id))
    }
    if (swept) return
    swept = true
    const state = store.state
    const known = new Set<string>()
    for (const job of Object.values(state.jobs)) for (const sub of job.submissions) known.add(sub.id)
    // Job directories: the jobs area, and the data dir's jobs/ of a host from before the move.
    for (const root of [opts.area.dir, join(opts.dataDir, 'jobs')]) {
      for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
        const id = entry.name
        // `home` is the job user's home (jobs-area.ts), `.supervisor` the runtime's: not jobs'.
        if (entry.isDirectory() && id !== 'home' && !id.startsWith('.') && !known.has(id) && !running.has(id) && !starting.has(id)) await removeDir(join(root, id))
      }
    }
    for (const id of await readdir(join(opts.dataDir, 'code')).catch(() => [])) {
      const mtime = await stat(codeDir(id)).then(s => s.mtimeMs, () => Date.now())
      if (state.runs[id] === undefined && Date.now() - mtime > CODE_GRACE_MS) await removeDir(codeDir(id))
    }
  }
  let forgetting = Promise.resolve()

  let scheduled = false
  const unsubscribe = store.subscribe((cmd, result) => {
    if (cmd?.type === 'runs.compact' && result?.ok && result.compacted !== undefined && result.compacted.length > 0) {
      const compacted = result.compacted
      forgetting = forgetting.then(() => forget(compacted))
    }
    if (scheduled) return
    scheduled = true
    queueMicrotask(() => { scheduled = false; reconcile() })
  })
  const recovered = recover().then(reconcile)

  return {
    recovered,
    portOf (submission, port) {
      const local = running.get(submission)
      if (local === undefined || local.exited) throw new RpcError('not_found', `job ${submission} is not running on this host`)
      const published = local.info?.ports
      if (published === undefined) return port // a process job listens on the host itself
      const p = published.find(x => x.container === port)
      if (p === undefined) throw new RpcError('not_found', `job ${local.job.spec.job_name} publishes no port ${port}${published.length ? ` (it publishes ${published.map(x => x.container).join(', ')})` : ''}`)
      return p.host
    },
    close () {
      closed = true
      unsubscribe()
    }
  }
}
