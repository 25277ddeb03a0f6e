// The docker runtime: each job is a container of the host's engine, created through dockerode.
// The engine keeps the job running and its output while dstackd is down; what dstackd must
// remember itself (a stop requested, its deadline) lives in the job directory, so a restarted
// daemon finds the container again by its labels and carries on (recover).
//
// Files in the job directory:
//   spec.json       the JobSpec (without registry credentials)
//   container.json  {containerId, notes}, once the container exists
//   stop.json       {reason, at, killAt}: a stop, kill or max_duration ending the job
//   output.log/idx  the output (jobfiles.ts), copied from the engine's log once the container exited
//   exit.json       the JobExit, last, once the output is copied; the container may then be removed
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import Dockerode from 'dockerode'
import { LogFileWriter, readJson, readLogFiles, writeAtomic } from '../jobfiles.ts'
import { signalName } from '../signals.ts'
import type { ExecOptions, ExecSession, JobExit, JobInfo, JobSpec, JobStats, LogChunk, LogsOptions, Runtime, StartHooks } from '../types.ts'
import { containerPath, createOptions, DIR_LABEL, hostWorkDir, JOB_LABEL, PRIVILEGED_NOTE } from './create.ts'
import { chunksOf, MessageParser } from './engine-log.ts'
import { PullError, pullImage } from './pull.ts'
import { probeDeviceHost, type DeviceHost, type ProbeOptions } from './devices.ts'
import { wantsPrivileges, writeStartDockerd } from './dind.ts'

export interface DockerRuntimeOptions {
  /** The engine's Unix socket (default: DOCKER_HOST's unix:// path, else /var/run/docker.sock). */
  socketPath?: string
  /** Base for relative job dirs, and where an id not seen by this instance is looked up (rootDir/id). */
  rootDir?: string
  /** How long the engine may go without answering before its jobs are reported lost (default 15 s). */
  lostAfterMs?: number
  /** How often a running job's container is looked at, besides the engine's wait (default 2 s). */
  pollMs?: number
  /** Where the host's device nodes are (default /dev; tests: stand-in nodes) and how the NVIDIA toolkit is found. */
  devices?: Omit<ProbeOptions, 'engineRuntimes'>
}

type Reason = 'stopped' | 'killed' | 'max_duration_exceeded'
/** stop.json */
interface Ending { reason: Reason, at: number, killAt: number | null }
/** container.json */
interface ContainerRecord { containerId: string, notes?: string[] }
type StoredSpec = Omit<JobSpec, 'container'> & { container: Omit<NonNullable<JobSpec['container']>, 'registryAuth'> }

interface Job {
  id: string
  dir: string
  spec: StoredSpec | null
  containerId?: string
  notes: string[]
  ending?: Ending
  exit?: JobExit
  exitPromise?: Promise<JobExit>
  finalizing?: Promise<JobExit>
  timers: Set<NodeJS.Timeout>
}

interface State { Status: string, Running: boolean, Pid: number, ExitCode: number, OOMKilled: boolean, Error?: string, StartedAt: string, FinishedAt: string }

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export function dockerRuntime (opts: DockerRuntimeOptions = {}): Runtime {
  return new DockerRuntime(opts)
}

/** Errors of a request that never got the engine's answer (rather than an answer that says no). */
function unanswered (e: unknown): boolean {
  const err = e as { statusCode?: number, code?: string, name?: string, syscall?: string, message?: string }
  if (!err || err.statusCode !== undefined) return false
  return err.syscall === 'connect' || err.code === 'ECONNRESET' || err.code === 'EPIPE' ||
    err.name === 'AbortError' || err.name === 'TimeoutError' || /socket hang up/.test(err.message ?? '')
}

function statusOf (e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode
}

/** The engine's words, without dockerode's "(HTTP code 500) server error - " prefix. */
function engineMessage (e: unknown): string {
  const err = e as { json?: { message?: string }, message?: string }
  const text = typeof err?.json?.message === 'string' ? err.json.message : (err?.message ?? String(e))
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim()
}

class DockerRuntime implements Runtime {
  readonly name = 'docker'
  private readonly docker: Dockerode
  private readonly socketPath: string
  private readonly rootDir: string
  private readonly lostAfterMs: number
  private readonly pollMs: number
  private readonly jobs = new Map<string, Job>()
  private privilegedRefused = false
  private cgroupV1: boolean | null = null
  private devices: DeviceHost | null = null
  private readonly deviceProbe: Omit<ProbeOptions, 'engineRuntimes'>

  constructor (opts: DockerRuntimeOptions) {
    const fromEnv = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : undefined
    this.socketPath = opts.socketPath ?? fromEnv ?? '/var/run/docker.sock'
    this.docker = new Dockerode({ socketPath: this.socketPath })
    this.rootDir = resolve(opts.rootDir ?? join(homedir(), '.dstack', 'dstackd', 'jobs'))
    this.lostAfterMs = opts.lostAfterMs ?? 15_000
    this.pollMs = opts.pollMs ?? 2000
    this.deviceProbe = opts.devices ?? {}
  }

  private get engine (): string {
    return `the Docker engine at ${this.socketPath}`
  }

  async start (spec: JobSpec, hooks: StartHooks = {}): Promise<JobInfo | JobExit> {
    if (!SAFE_ID.test(spec.id)) throw new Error(`job id ${JSON.stringify(spec.id)} is not safe as a file name`)
    // An empty command runs the image's own ENTRYPOINT and CMD (SPEC §3.7).
    if (!Array.isArray(spec.command) || spec.command.some(a => typeof a !== 'string')) {
      throw new Error(`job ${spec.id}: command must be a list of strings`)
    }
    if (!isAbsolute(spec.workingDir)) throw new Error(`job ${spec.id}: workingDir must be absolute, got ${JSON.stringify(spec.workingDir)}`)
    const c = spec.container
    if (!c || typeof c.image !== 'string' || c.image === '') throw new Error(`job ${spec.id}: the docker runtime needs container.image`)
    const dir = resolve(this.rootDir, spec.dir)
    const known = this.jobs.get(spec.id)
    if (known && !known.exit) throw new Error(`job ${spec.id} is already known to this runtime`)
    await fsp.mkdir(dir, { recursive: true, mode: 0o711 })
    for (const f of ['container.json', 'exit.json']) {
      if (fs.existsSync(join(dir, f))) throw new Error(`job ${spec.id}: ${dir} already holds a job (${f} exists)`)
    }
    await fsp.mkdir(hostWorkDir(dir), { recursive: true })
    if (containerPath(dir, spec.workingDir) !== spec.workingDir) await fsp.mkdir(spec.workingDir, { recursive: true })
    const { registryAuth, ...stored } = c
    const storedSpec: StoredSpec = { ...spec, dir, container: stored }
    await writeAtomic(join(dir, 'spec.json'), storedSpec)
    const job = this.register(spec.id, dir, storedSpec)

    try {
      await this.ensureImage(c.image, registryAuth, hooks)
    } catch (e) {
      // A PullError says what went wrong in its own words (and never holds the password).
      return await this.failStart(job, e instanceof PullError ? e.message : unanswered(e) ? `${this.engine} does not answer: ${engineMessage(e)}` : `could not pull image ${c.image}: ${engineMessage(e)}`)
    }
    if (job.ending) return await this.failStart(job, `${job.ending.reason} before it started`, job.ending.reason)

    const volumes: Array<{ hostPath: string, path: string }> = []
    for (const v of c.volumes ?? []) {
      if (fs.existsSync(v.hostPath)) volumes.push(v)
      else if (v.optional) job.notes.push(`volume ${v.path}: ${v.hostPath} does not exist on this host, skipped (optional)`)
      else {
        try { await fsp.mkdir(v.hostPath, { recursive: true }) } catch (e) {
          return await this.failStart(job, `volume ${v.path}: cannot create ${v.hostPath} on this host: ${(e as Error).message}`)
        }
        volumes.push(v)
      }
    }
    try {
      if (this.cgroupV1 === null || this.devices === null) {
        const info = await this.docker.info() as { CgroupVersion?: string, Runtimes?: Record<string, unknown> }
        this.cgroupV1 = info.CgroupVersion === '1'
        this.devices = await probeDeviceHost({ ...this.deviceProbe, engineRuntimes: Object.keys(info.Runtimes ?? {}) })
      }
    } catch (e) {
      return await this.failStart(job, `${this.engine} does not answer: ${engineMessage(e)}`)
    }

    if (spec.command.length === 0 && !(c.entrypoint && c.entrypoint.length > 0)) {
      const own = await this.imageCommand(c.image)
      if (own !== null && own.length === 0) return await this.failStart(job, `nothing to run: image ${c.image} has no ENTRYPOINT or CMD; give the job \`commands\``)
    }
    if (c.docker === true) await writeStartDockerd(dir)
    let container: Dockerode.Container
    for (;;) {
      const fallback = wantsPrivileges(c) && this.privilegedRefused
      let options: Dockerode.ContainerCreateOptions
      try {
        const { notes, ...created } = createOptions(spec, dir, { privileged: fallback ? 'capabilities' : 'engine', cgroupV1: this.cgroupV1, volumes, devices: this.devices })
        options = created
        job.notes.push(...notes.filter(n => !job.notes.includes(n)))
      } catch (e) {
        return await this.failStart(job, (e as Error).message)
      }
      try {
        container = await this.docker.createContainer(options)
      } catch (e) {
        return await this.failStart(job, `could not create the container: ${engineMessage(e)}`)
      }
      job.containerId = container.id
      const notes = [...job.notes, ...(fallback ? [PRIVILEGED_NOTE] : [])]
      await writeAtomic(join(dir, 'container.json'), { containerId: container.id, notes } satisfies ContainerRecord)
      const missing = await this.missingCommand(container, (options.Entrypoint as string[] | undefined) ?? [], spec.env.PATH, c.image)
      if (missing) return await this.failStart(job, missing)
      try {
        await container.start()
        job.notes = notes
        break
      } catch (e) {
        const msg = engineMessage(e)
        if (wantsPrivileges(c) && !fallback && /unable to apply caps|operation not permitted/.test(msg)) {
          this.privilegedRefused = true
          await container.remove({ force: true, v: true }).catch(() => undefined)
          await fsp.rm(join(dir, 'container.json'), { force: true })
          continue
        }
        return await this.failStart(job, `could not start the container: ${msg}`)
      }
    }
    let info: JobInfo
    try {
      info = this.infoOf(job, await this.inspectContainer(job))
    } catch (e) {
      return await this.failStart(job, `${this.engine} does not answer: ${engineMessage(e)}`)
    }
    this.armTimers(job, info.startedAt)
    // A stop or kill that came while the container was being created.
    const ending = job.ending as Ending | undefined // set by a stop or kill meanwhile
    if (ending?.reason === 'killed') await container!.kill().catch(() => undefined)
    else if (ending) await this.signalAll(job, ending.reason === 'stopped' ? 'SIGINT' : 'SIGTERM')
    return info
  }

  async recover (id: string, dirIn: string): Promise<JobInfo | JobExit | null> {
    if (!SAFE_ID.test(id)) throw new Error(`job id ${JSON.stringify(id)} is not safe as a file name`)
    try {
      return await this.recoverFrom(id, resolve(this.rootDir, dirIn))
    } catch (e) {
      if (unanswered(e)) throw new Error(`${this.engine} does not answer: ${engineMessage(e)}`)
      throw e
    }
  }

  private async recoverFrom (id: string, dir: string): Promise<JobInfo | JobExit | null> {
    const spec = await readJson<StoredSpec>(join(dir, 'spec.json'))
    if (!spec) return null
    const job = this.register(id, dir, spec)
    const rec = await readJson<ContainerRecord>(join(dir, 'container.json'))
    job.notes = rec?.notes ?? []
    job.ending = await readJson<Ending>(join(dir, 'stop.json')) ?? undefined
    const exit = await readJson<JobExit>(join(dir, 'exit.json'))
    const found = await this.findContainer(id, dir)
    if (exit) {
      job.exit = exit
      // It ended as far as dstack knows (reported lost while the engine was away, say): it must not run on.
      if (found && found.State === 'running') await this.docker.getContainer(found.Id).kill().catch(() => undefined)
      return exit
    }
    if (!found) {
      if (!rec) { // dstackd went down before the container was created: starting it now runs it once
        this.jobs.delete(id)
        await fsp.rm(join(dir, 'spec.json'), { force: true })
        return null
      }
      return await this.markLost(job, "the job's container disappeared while dstackd was down")
    }
    job.containerId = found.Id
    const full = await this.inspectContainer(job)
    const state = full.State as unknown as State
    if (state.Status === 'created') { // created, never started: as if it never was
      await this.docker.getContainer(found.Id).remove({ force: true, v: true }).catch(() => undefined)
      this.jobs.delete(id)
      for (const f of ['container.json', 'spec.json']) await fsp.rm(join(dir, f), { force: true })
      return null
    }
    if (state.Running) {
      const info = this.infoOf(job, full)
      this.armTimers(job, info.startedAt)
      return info
    }
    return await this.finalize(job, state)
  }

  wait (id: string): Promise<JobExit> {
    let job: Job
    try { job = this.get(id) } catch (e) { return Promise.reject(e) }
    if (job.exit) return Promise.resolve(job.exit)
    job.exitPromise ??= this.watch(job)
    return job.exitPromise
  }

  /** Until the container has exited (the engine's wait, with polling beside it) or the engine is gone. */
  private async watch (job: Job): Promise<JobExit> {
    let waiting: Promise<'exited' | 'error'> | null = null
    let unansweredSince: number | null = null
    for (;;) {
      if (job.exit) return job.exit
      const exit = await readJson<JobExit>(join(job.dir, 'exit.json')).catch(() => null)
      if (exit) { job.exit = exit; return exit }
      if (!job.containerId) { await sleep(this.pollMs); continue } // still starting
      const container = this.docker.getContainer(job.containerId)
      waiting ??= container.wait({ condition: 'not-running' }).then(() => 'exited' as const, () => 'error' as const)
      const got = await Promise.race([waiting, sleep(this.pollMs).then(() => 'tick' as const)])
      if (got !== 'tick') waiting = null
      let state: State
      try {
        state = await this.inspect(job)
      } catch (e) {
        if (statusOf(e) === 404) return await this.markLost(job, "the job's container was removed behind dstackd's back")
        unansweredSince ??= Date.now()
        if (Date.now() - unansweredSince >= this.lostAfterMs) {
          return await this.markLost(job, `${this.engine} stopped answering (${engineMessage(e)})`)
        }
        if (got === 'error') await sleep(Math.min(1000, this.pollMs))
        continue
      }
      unansweredSince = null
      if (!state.Running && state.Status !== 'created') return await this.finalize(job, state)
    }
  }

  async stop (id: string, graceMs: number): Promise<void> {
    const job = this.get(id)
    if (job.exit || job.ending) return // a second stop changes nothing; after a kill, nothing is left to stop
    await this.end(job, { reason: 'stopped', at: Date.now(), killAt: Date.now() + Math.max(0, Math.floor(graceMs)) }, 'SIGINT')
  }

  async kill (id: string): Promise<void> {
    const job = this.get(id)
    if (job.exit || job.ending?.reason === 'killed') return
    await this.end(job, { reason: 'killed', at: Date.now(), killAt: Date.now() }, null)
  }

  /** Records why the job ends, then signals every process of the container and kills it at killAt. */
  private async end (job: Job, ending: Ending, signal: 'SIGINT' | 'SIGTERM' | null): Promise<void> {
    job.ending = ending
    await writeAtomic(join(job.dir, 'stop.json'), ending)
    if (!job.containerId) return // still starting: start sees job.ending
    if (signal === null) { await this.docker.getContainer(job.containerId).kill().catch(() => undefined); return }
    await this.signalAll(job, signal)
    this.armKill(job)
  }

  private armKill (job: Job): void {
    const killAt = job.ending?.killAt
    if (killAt === null || killAt === undefined || !job.containerId) return
    const id = job.containerId
    this.after(job, killAt - Date.now(), () => {
      if (!job.exit) void this.docker.getContainer(id).kill().catch(() => undefined)
    })
  }

  /** max_duration counts from the container's start, so a restarted daemon re-arms the same deadline. */
  private armTimers (job: Job, startedAt: number): void {
    if (job.ending) { this.armKill(job); return }
    const maxSec = Number(job.spec?.maxDurationSec)
    if (!(maxSec > 0)) return
    this.after(job, startedAt + maxSec * 1000 - Date.now(), () => {
      if (job.exit || job.ending) return
      const now = Date.now()
      void this.end(job, { reason: 'max_duration_exceeded', at: now, killAt: now + (job.spec?.killGraceMs ?? 10_000) }, 'SIGTERM').catch(() => undefined)
    })
  }

  private after (job: Job, ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      job.timers.delete(timer)
      if (ms > 2 ** 31 - 1) this.after(job, ms - (2 ** 31 - 1), fn); else fn()
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)))
    timer.unref()
    job.timers.add(timer)
  }

  /**
   * The signal goes to every process of the container, as the process runtime does to every
   * process of its job (so a shell's `sleep` gets SIGINT too, and stop is quick). The container's
   * init is left out: it would forward a second one. Where dstackd cannot see the container's
   * processes (another pid namespace, not root), the engine signals the init, which forwards it.
   */
  private async signalAll (job: Job, signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    let state: State
    try { state = await this.inspect(job) } catch { return }
    if (!state.Running) return
    const pids = containerPids(state.Pid, job.containerId!)
    let delivered = pids.length > 0
    for (const pid of pids) {
      try { process.kill(pid, signal) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ESRCH') delivered = false }
    }
    if (!delivered) await this.docker.getContainer(job.containerId!).kill({ signal }).catch(() => undefined)
  }

  async * logs (id: string, opts: LogsOptions = {}): AsyncGenerator<LogChunk> {
    const job = this.get(id)
    const since = opts.since ?? -Infinity
    const { follow = false, signal } = opts
    let pos = 0 // bytes of the output given so far (or skipped by since)
    for (;;) {
      if (signal?.aborted) return
      if (!job.containerId && !job.exit && follow) { await sleep(100); continue } // being created
      if (job.exit || fs.existsSync(join(job.dir, 'exit.json')) || !job.containerId) {
        yield * readLogFiles(job.dir, { since, from: pos, signal })
        return
      }
      let failed: unknown = null
      try {
        for await (const chunk of this.engineChunks(job.containerId, follow, signal)) {
          const end = chunk.offset + chunk.data.length
          if (end <= pos) continue
          const data = chunk.offset < pos ? chunk.data.subarray(pos - chunk.offset) : chunk.data
          if (chunk.at >= since) yield { at: chunk.at, offset: Math.max(pos, chunk.offset), data }
          pos = end
        }
      } catch (e) {
        if (signal?.aborted) return
        failed = e
      }
      if (failed && statusOf(failed) !== 404 && !follow) throw new Error(`job ${id}: could not read its output from ${this.engine}: ${engineMessage(failed)}`)
      if (!follow && !failed) return
      // The stream ended: the container stopped (its output is complete, soon in the job dir), or
      // the engine went away or restarted (reading resumes after what was given).
      const state = await this.inspect(job).catch(() => null)
      if (state?.Running) continue
      if (state?.Status === 'created') { await sleep(100); continue } // not started yet
      // Exited (the output is being copied) or the engine is away (it may come back): until the
      // job's end is settled, looking again now and then.
      await Promise.race([this.wait(id), sleep(this.pollMs)])
    }
  }

  /** The container's output from the engine's log, from its first byte. */
  private async * engineChunks (containerId: string, follow: boolean, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    const container = this.docker.getContainer(containerId)
    const parser = new MessageParser()
    let offset = 0
    const emit = function * (messages: ReturnType<MessageParser['push']>) {
      for (const chunk of chunksOf(messages, offset)) {
        offset += chunk.data.length
        yield chunk
      }
    }
    if (!follow) {
      const all = await container.logs({ stdout: true, stderr: true, timestamps: true, follow: false, ...(signal ? { abortSignal: signal } : {}) })
      yield * emit(parser.push(Buffer.isBuffer(all) ? all : Buffer.from(all as unknown as string)))
      yield * emit(parser.end())
      return
    }
    const stream = await container.logs({ stdout: true, stderr: true, timestamps: true, follow: true, ...(signal ? { abortSignal: signal } : {}) })
    try {
      for await (const bytes of stream as AsyncIterable<Buffer>) yield * emit(parser.push(bytes))
    } finally {
      (stream as unknown as { destroy? (): void }).destroy?.()
    }
    yield * emit(parser.end())
  }

  /**
   * The container exited: its whole output goes into the job dir once (the engine's log goes with
   * the container), then exit.json. Killed half-way, a restarted daemon does it again.
   */
  private finalize (job: Job, state: State): Promise<JobExit> {
    job.finalizing ??= (async () => {
      const notes: string[] = []
      let head = ''
      const writer = new LogFileWriter(job.dir)
      try {
        // Read as a stream (a follow on an exited container ends with its log), never whole in memory.
        for await (const chunk of this.engineChunks(job.containerId!, true)) {
          if (head.length < 512) head += chunk.data.toString('utf8', 0, 512)
          await writer.append(chunk.at, chunk.data)
        }
        await writer.commit()
      } catch (e) {
        await writer.abort()
        notes.push(`the output could not be copied from ${this.engine}: ${engineMessage(e)}`)
      }
      const ending = job.ending ?? await readJson<Ending>(join(job.dir, 'stop.json')) ?? undefined
      const limit = job.spec?.limits?.memoryBytes
      if (state.OOMKilled) notes.unshift(`the job was killed for exceeding its memory limit${limit ? ` of ${formatBytes(limit)}` : ''} (out of memory)`)
      const fatal = /\[FATAL tini \(\d+\)\] (.*)/.exec(head)
      if (fatal && (state.ExitCode === 126 || state.ExitCode === 127)) notes.unshift(`could not start the command: ${fatal[1]!.trim()}`)
      if (state.Error) notes.push(state.Error)
      const finished = Date.parse(state.FinishedAt)
      const exit: JobExit = {
        exitCode: state.ExitCode,
        signal: state.OOMKilled ? 'SIGKILL' : null,
        reason: ending?.reason ?? 'exited',
        finishedAt: finished > 0 ? finished : Date.now(),
        ...(notes.length ? { message: notes.join('; ') } : {})
      }
      await writeAtomic(join(job.dir, 'exit.json'), exit)
      this.settle(job, exit)
      return exit
    })()
    return job.finalizing
  }

  private async markLost (job: Job, message: string): Promise<JobExit> {
    const exit: JobExit = { exitCode: null, signal: null, reason: 'lost', finishedAt: Date.now(), message }
    try { await writeAtomic(join(job.dir, 'exit.json'), exit) } catch {} // the job dir itself is gone: lost all the same
    this.settle(job, exit)
    return exit
  }

  /** A start that did not happen: the container (if any) goes, the JobExit says why. */
  private async failStart (job: Job, message: string, reason: JobExit['reason'] = 'exited'): Promise<JobExit> {
    if (job.containerId) await this.docker.getContainer(job.containerId).remove({ force: true, v: true }).catch(() => undefined)
    const exit: JobExit = { exitCode: null, signal: null, reason, finishedAt: Date.now(), message }
    await writeAtomic(join(job.dir, 'exit.json'), exit)
    this.settle(job, exit)
    return exit
  }

  private settle (job: Job, exit: JobExit): void {
    job.exit = exit
    for (const t of job.timers) clearTimeout(t)
    job.timers.clear()
  }

  async stats (id: string): Promise<JobStats | null> {
    const job = this.get(id)
    if (job.exit || !job.containerId) return null
    let s: Dockerode.ContainerStats
    try {
      s = await this.docker.getContainer(job.containerId).stats({ stream: false, 'one-shot': true })
    } catch (e) {
      if (statusOf(e) === 404 || statusOf(e) === 409) return null
      throw e
    }
    if (!s.cpu_stats?.cpu_usage) return null
    const m = s.memory_stats as { usage?: number, stats?: Record<string, number> } | undefined
    const inactive = m?.stats?.total_inactive_file ?? m?.stats?.inactive_file ?? 0
    return {
      cpuSeconds: s.cpu_stats.cpu_usage.total_usage / 1e9,
      ...(m?.usage !== undefined ? { memoryBytes: Math.max(0, m.usage - inactive) } : {})
    }
  }

  async exec (id: string, opts: ExecOptions): Promise<ExecSession> {
    const job = this.get(id)
    if (job.exit || !job.containerId) throw new Error(`job ${id} is not running`)
    if (!Array.isArray(opts.command) || opts.command.length === 0) throw new Error(`job ${id}: exec needs a command`)
    const tty = opts.tty !== undefined
    const env = opts.env ?? {}
    const exec = await this.docker.getContainer(job.containerId).exec({
      Cmd: opts.command,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      Env: Object.entries({ ...(tty && env.TERM === undefined ? { TERM: 'xterm-256color' } : {}), ...env }).map(([k, v]) => `${k}=${v}`)
    })
    const stream = await exec.start({ hijack: true, stdin: true, Tty: tty, ...(tty ? { ConsoleSize: [opts.tty!.rows, opts.tty!.cols] } : {}) } as Dockerode.ExecStartOptions)
    // ConsoleSize needs API 1.42; an older engine starts the terminal at 0x0 until resized.
    if (tty) void exec.resize({ w: opts.tty!.cols, h: opts.tty!.rows }).catch(() => {})
    const output = new PassThrough()
    let stderr: PassThrough | undefined
    if (tty) stream.pipe(output)
    else {
      stderr = new PassThrough()
      this.docker.modem.demuxStream(stream, output, stderr)
      stream.on('end', () => { output.end(); stderr!.end() })
    }
    const exited = new Promise<{ code: number | null }>(resolvePromise => {
      let done = false
      const finish = async () => {
        if (done) return
        done = true
        let code: number | null = null
        for (let i = 0; i < 50; i++) { // the exit code shows a moment after the stream ends
          try {
            const r = await exec.inspect()
            if (!r.Running) { code = r.ExitCode ?? null; break }
          } catch { break }
          await sleep(20)
        }
        stream.destroy() // our half of the connection: nothing reads or writes it any more
        resolvePromise({ code })
      }
      stream.on('end', () => void finish())
      stream.on('close', () => void finish())
      stream.on('error', () => void finish())
    })
    return {
      input: stream,
      output,
      ...(stderr ? { stderr } : {}),
      ...(tty ? { resize: async (cols: number, rows: number) => { await exec.resize({ w: cols, h: rows }) } } : {}),
      // The engine has no call to signal an exec; its process is one of this host's, by its host pid.
      signal: (name: string) => {
        void exec.inspect().then(r => { if (r.Running && r.Pid > 0) process.kill(r.Pid, signalName(name)) }).catch(() => {})
      },
      exited
    }
  }

  async remove (id: string): Promise<void> {
    const job = this.get(id)
    if (!job.exit) throw new Error(`job ${id} has not finished: stop it first`)
    const found = job.containerId ?? (await this.findContainer(id, job.dir))?.Id
    if (!found) return
    try {
      await this.docker.getContainer(found).remove({ force: true, v: true })
    } catch (e) {
      if (statusOf(e) !== 404) throw new Error(`job ${id}: could not remove its container: ${engineMessage(e)}`)
    }
  }

  // ---

  private register (id: string, dir: string, spec: StoredSpec | null): Job {
    const known = this.jobs.get(id)
    if (known && known.dir === dir && !spec) return known
    const job: Job = { id, dir, spec, notes: [], timers: new Set() }
    this.jobs.set(id, job)
    return job
  }

  private get (id: string): Job {
    const known = this.jobs.get(id)
    if (known) return known
    throw new Error(`unknown job ${JSON.stringify(id)}`)
  }

  private async ensureImage (image: string, auth: { username: string, password: string } | null | undefined, hooks: StartHooks): Promise<void> {
    try {
      await this.docker.getImage(image).inspect()
      return
    } catch (e) {
      if (statusOf(e) !== 404) throw e
    }
    await pullImage(this.docker, image, auth, hooks.progress)
  }

  /**
   * Why the command cannot start in the created container (its program is not in the image), or
   * null. The container's init would start and report it only in the output; this says it at start.
   */
  private async missingCommand (container: Dockerode.Container, argv: string[], pathVar: string | undefined, image: string): Promise<string | null> {
    const program = argv[0]
    if (!program) return null
    let candidates: string[]
    if (program.startsWith('/')) candidates = [program]
    else if (program.includes('/')) return null // relative to the working dir: the start will tell
    else {
      let path = pathVar
      if (path === undefined) {
        try {
          const img = await this.docker.getImage(image).inspect()
          path = img.Config?.Env?.find(e => e.startsWith('PATH='))?.slice(5)
        } catch {}
      }
      candidates = (path ?? DEFAULT_PATH).split(':').filter(d => d.startsWith('/')).map(d => `${d.replace(/\/$/, '')}/${program}`)
    }
    const found = await Promise.all(candidates.map(p => container.infoArchive({ path: p }).then((res: NodeJS.ReadableStream) => { res.resume(); return true }, e => statusOf(e) !== 404)))
    if (found.some(Boolean)) return null
    return program.startsWith('/')
      ? `could not start the command: ${program} does not exist in image ${image}`
      : `could not start the command: ${program} is not in the image's PATH (${candidates.map(c => c.slice(0, c.lastIndexOf('/'))).join(':')}) in image ${image}`
  }

  /** The image's own ENTRYPOINT + CMD; null when the image is not here yet (the pull comes first: the start then tells). */
  private async imageCommand (image: string): Promise<string[] | null> {
    try {
      const img = await this.docker.getImage(image).inspect()
      return [...img.Config?.Entrypoint ?? [], ...img.Config?.Cmd ?? []]
    } catch {
      return null
    }
  }

  private async findContainer (id: string, dir: string): Promise<Dockerode.ContainerInfo | null> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${JOB_LABEL}=${id}`] } })
    return list.find(c => c.Labels?.[DIR_LABEL] === dir) ?? null
  }

  private async inspect (job: Job): Promise<State> {
    return (await this.inspectContainer(job)).State as unknown as State
  }

  private inspectContainer (job: Job): Promise<Dockerode.ContainerInspectInfo> {
    return this.docker.getContainer(job.containerId!).inspect({ abortSignal: AbortSignal.timeout(Math.max(1000, this.pollMs * 2)) })
  }

  private infoOf (job: Job, info: Dockerode.ContainerInspectInfo): JobInfo {
    const state = info.State as unknown as State
    const started = Date.parse(state.StartedAt)
    const ports: Array<{ container: number, host: number }> = []
    for (const [key, bound] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
      const b = (bound ?? []).find(x => x.HostIp === '127.0.0.1') ?? bound?.[0]
      if (b) ports.push({ container: Number.parseInt(key, 10), host: Number(b.HostPort) })
    }
    return {
      id: job.id,
      pid: state.Pid,
      startedAt: started > 0 ? started : Date.now(),
      limits: limitsOf(job.spec),
      ...(ports.length ? { ports } : {}),
      ...(job.notes.length ? { notes: job.notes } : {})
    }
  }
}

function limitsOf (spec: StoredSpec | null): JobInfo['limits'] {
  const l = spec?.limits
  if (!l || !(l.memoryBytes || l.cpus)) return { applied: false, why: 'no limits requested' }
  return { applied: true }
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function formatBytes (n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) { n /= 1024; i++ }
  return `${n} ${units[i]}`
}

/**
 * The host pids of the container's processes but its init (initPid): the processes in init's pid
 * namespace. Empty unless initPid really is that container's (its cgroup names the container),
 * so a pid from another namespace is never signalled.
 */
function containerPids (initPid: number, containerId: string): number[] {
  let ns: string
  try {
    if (!fs.readFileSync(`/proc/${initPid}/cgroup`, 'utf8').includes(containerId)) return []
    ns = fs.readlinkSync(`/proc/${initPid}/ns/pid`)
  } catch {
    return []
  }
  const pids: number[] = []
  let names: string[] = []
  try { names = fs.readdirSync('/proc') } catch {}
  for (const name of names) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57 || Number(name) === initPid) continue
    try { if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name)) } catch {}
  }
  return pids
}
