// The agent: this host's hands. It watches the state for job submissions placed on this node,
// starts them in the runtime, stops them when they are told to terminate, and reports every
// change back as a command. After a restart it re-adopts what still runs (`recover`).
import { cp, mkdir, stat } from 'node:fs/promises'
import { constants } from 'node:os'
import { join } from 'node:path'
import type { JobExit, Runtime } from '../../drivers/runtime/index.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { ApplyResult, Command } from '../state/machine.ts'
import type { StateStore } from '../state/store.ts'
import type { Job, JobSubmission, Run, State } from '../state/types.ts'
import { prepareArtifacts, saveArtifacts } from './artifacts.ts'
import { jobEnvironment, jobWorkingDir } from './environment.ts'

export interface AgentOptions {
  store: StateStore
  runtime: Runtime
  /** This host's node id: the agent acts on submissions placed here. */
  node: string
  dataDir: string
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void
  /** Seconds a stopped job gets between SIGINT and SIGKILL (dstack's runner waits 10 s). */
  stopGraceSeconds?: number
}

export interface Agent {
  /** Resolves once every job this node had before a restart was re-adopted or reported. */
  readonly recovered: Promise<void>
  close (): void
}

type Local = { job: Job, sub: JobSubmission, stopping: 'stop' | 'kill' | null }

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

  const propose = (cmd: Command): Promise<ApplyResult | null> => closed
    ? Promise.resolve(null)
    : store.propose(cmd).catch(err => { opts.log('error', 'could not record a job change', { error: String(err), command: cmd.type }); return null })

  const jobDir = (sub: JobSubmission) => join(opts.dataDir, 'jobs', sub.id)

  function mine (state: State): Array<{ run: Run, job: Job, sub: JobSubmission }> {
    const out = []
    for (const job of Object.values(state.jobs)) {
      const sub = latest(job)
      if (sub.placement?.node !== node || isFinal(sub.status)) continue
      const run = state.runs[job.run_id]
      if (run) out.push({ run, job, sub })
    }
    return out
  }

  async function report (job: Job, sub: JobSubmission, exit: JobExit): Promise<void> {
    const base = { type: 'job.status' as const, at: Date.now(), job_id: job.id, submission_id: sub.id }
    if (exit.reason === 'exited' && exit.exitCode === 0) {
      await propose({ ...base, status: 'done', reason: 'done_by_runner', exit_status: 0 })
    } else if (exit.reason === 'exited') {
      const message = exit.message ?? (exit.exitCode === null ? `killed by ${exit.signal ?? 'a signal'}` : null)
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
    // The entry stays until the exit is recorded, so reconcile never reports this job twice.
    if (run.spec.workflow) {
      await saveArtifacts(opts.dataDir, run, jobWorkingDir(jobDir(sub), job.spec.working_dir))
        .catch(err => opts.log('warn', 'saving artifacts failed', { run: run.name, error: String(err) }))
    }
    await report(job, sub, exit)
    running.delete(sub.id)
  }

  async function start (run: Run, job: Job, sub: JobSubmission): Promise<void> {
    starting.add(sub.id)
    try {
      const dir = jobDir(sub)
      const workingDir = jobWorkingDir(dir, job.spec.working_dir)
      await mkdir(workingDir, { recursive: true })
      // Each submission starts from the code the run was submitted with.
      const code = join(opts.dataDir, 'code', run.id)
      if (await stat(code).then(() => true, () => false)) await cp(code, join(dir, 'work'), { recursive: true })
      if (run.spec.workflow) await prepareArtifacts(opts.dataDir, run, workingDir)
      const env = await jobEnvironment({ state: store.state, run, job, sub, dir, workingDir })
      const info = await runtime.start({
        id: sub.id,
        dir,
        command: job.spec.command,
        env,
        workingDir,
        limits: limitsOf(job),
        maxDurationSec: job.spec.max_duration === 'off' ? null : job.spec.max_duration
      })
      running.set(sub.id, { job, sub, stopping: null })
      opts.log('info', 'job started', { job: job.spec.job_name, submission: sub.id, pid: info.pid })
      await propose({
        type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'running',
        limits_note: info.limits.applied || info.limits.why === 'no limits requested' ? null : `no resource limits: ${info.limits.why ?? 'not supported on this host'}`
      })
      void follow(run, job, sub)
    } catch (err) {
      opts.log('error', 'job failed to start', { job: job.spec.job_name, error: String(err) })
      await propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'failed', reason: 'executor_error', message: `could not start: ${(err as Error).message}` })
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
    for (const { run, job, sub } of mine(store.state)) {
      const local = running.get(sub.id)
      if (sub.status === 'provisioning' && !local && !starting.has(sub.id)) void start(run, job, sub)
      else if (sub.status === 'terminating' && local) void stop(local, sub.termination_reason === 'aborted_by_user' ? 'kill' : 'stop')
      else if (sub.status === 'terminating' && !local && !starting.has(sub.id)) {
        // Told to stop a job that never started here: it simply ends.
        void propose({ type: 'job.status', at: Date.now(), job_id: job.id, submission_id: sub.id, status: 'terminated' })
      }
    }
  }

  async function recover (): Promise<void> {
    for (const { run, job, sub } of mine(store.state)) {
      if (sub.status === 'provisioning') continue // reconcile starts it
      starting.add(sub.id)
      try {
        const found = await runtime.recover(sub.id, jobDir(sub)).catch(err => ({
          exitCode: null, signal: null, reason: 'lost' as const, finishedAt: Date.now(), message: `could not re-adopt the job after a restart: ${(err as Error).message}`
        }))
        if ('pid' in found) {
          running.set(sub.id, { job, sub, stopping: null })
          opts.log('info', 'job re-adopted', { job: job.spec.job_name, submission: sub.id, pid: found.pid })
          void follow(run, job, sub)
        } else {
          opts.log('info', 'job ended while dstackd was down', { job: job.spec.job_name, reason: found.reason })
          if (run.spec.workflow) await saveArtifacts(opts.dataDir, run, jobWorkingDir(jobDir(sub), job.spec.working_dir)).catch(() => undefined)
          await report(job, sub, found)
        }
      } finally {
        starting.delete(sub.id)
      }
    }
  }

  let scheduled = false
  const unsubscribe = store.subscribe(() => {
    if (scheduled) return
    scheduled = true
    queueMicrotask(() => { scheduled = false; reconcile() })
  })
  const recovered = recover().then(reconcile)

  return {
    recovered,
    close () {
      closed = true
      unsubscribe()
    }
  }
}
