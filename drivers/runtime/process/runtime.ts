// The process runtime, daemon side. The jobs of an area are run by one detached supervisor
// (supervisor.js, see there why one and not a process per job), so they outlive a `kill -9` of
// dstackd; everything the daemon knows about a job it reads from the job directory, which is
// what lets a restarted daemon re-adopt it (recover). The supervisor's messages only tell the
// daemon when to read.
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { readJson, readLogFiles, writeAtomic } from '../jobfiles.ts'
import type { ExecOptions, ExecSession, JobExit, JobInfo, JobSpec, JobStats, JobUser, LimitsStatus, LogChunk, LogsOptions, Runtime } from '../types.ts'
import { execInJob } from './exec.ts'
import { supervisorLink, SUPERVISOR_PATH, type SupervisorLink } from './link.ts'

export { SUPERVISOR_PATH }

export interface ProcessRuntimeOptions {
  /** Base for relative job dirs, and where an id not seen by this instance is looked up (rootDir/id). */
  rootDir?: string
  /** How long start waits for the supervisor to report the command running (default 30 s). */
  startTimeoutMs?: number
}

/** runner.json: runnerPid and runnerStart name the supervisor that runs the job. */
interface RunnerRecord {
  runnerPid: number
  runnerStart?: number
  pid: number
  startedAt: number
  pty?: string
  limits: LimitsStatus
  cgroups?: string[]
}

interface Job {
  id: string
  dir: string
  watch: DirWatch
  runner?: RunnerRecord
  exit?: JobExit
  exitPromise?: Promise<JobExit>
}

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/
const LOST_DOWN = "the job's process disappeared while dstackd was down"
const LOST_UP = "the job's supervisor process disappeared"

export function processRuntime (opts: ProcessRuntimeOptions = {}): Runtime {
  return new ProcessRuntime(opts)
}

class ProcessRuntime implements Runtime {
  readonly name = 'process'
  private readonly rootDir: string
  private readonly startTimeoutMs: number
  private readonly jobs = new Map<string, Job>()
  private readonly byDir = new Map<string, Job>()
  private readonly link: SupervisorLink

  constructor (opts: ProcessRuntimeOptions) {
    this.rootDir = resolve(opts.rootDir ?? join(homedir(), '.dstack', 'dstackd', 'jobs'))
    this.startTimeoutMs = opts.startTimeoutMs ?? 30_000
    this.link = supervisorLink(this.rootDir, {
      // What the supervisor says happened in a job dir: read the file now.
      event: (op, dir) => this.byDir.get(dir)?.watch.poke(op === 'exit' ? 'exit.json' : 'runner.json'),
      // It went away (it died, or exited idle): every job checks whether its supervisor lives.
      gone: () => { for (const job of this.byDir.values()) job.watch.poke(null) }
    })
  }

  async start (spec: JobSpec): Promise<JobInfo | JobExit> {
    if (!SAFE_ID.test(spec.id)) throw new Error(`job id ${JSON.stringify(spec.id)} is not safe as a file name`)
    if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command.some(a => typeof a !== 'string')) {
      throw new Error(`job ${spec.id}: command must be a non-empty list of strings`)
    }
    if (!isAbsolute(spec.workingDir)) throw new Error(`job ${spec.id}: workingDir must be absolute, got ${JSON.stringify(spec.workingDir)}`)
    const userProblem = spec.user && problemWithUser(spec.user)
    if (userProblem) throw new Error(`job ${spec.id}: ${userProblem}`)
    const dir = resolve(this.rootDir, spec.dir)
    const known = this.jobs.get(spec.id)
    if (known && !known.exit) throw new Error(`job ${spec.id} is already known to this runtime`)
    // Another user's job may pass through to its working dir, but neither list nor write here.
    await fsp.mkdir(dir, { recursive: true, mode: 0o711 })
    await fsp.chmod(dir, 0o711)
    for (const f of ['runner.json', 'exit.json']) {
      if (fs.existsSync(join(dir, f))) throw new Error(`job ${spec.id}: ${dir} already holds a job (${f} exists)`)
    }
    await fsp.mkdir(spec.workingDir, { recursive: true })
    await writeAtomic(join(dir, 'spec.json'), { ...spec, dir })
    const job = this.register(spec.id, dir, true)
    return await this.launch(spec, job)
  }

  private launch (spec: JobSpec, job: Job): Promise<JobInfo | JobExit> {
    const dir = job.dir
    return new Promise<JobInfo | JobExit>((resolvePromise, reject) => {
      let settled = false
      let sent = false // the supervisor has the job
      let answered = false
      const settle = (err: Error | null, info?: JobInfo | JobExit) => {
        if (settled) return
        settled = true
        off()
        clearTimeout(timeout)
        if (err) reject(err); else resolvePromise(info!)
      }
      const check = async (): Promise<boolean> => {
        try {
          return await checkFiles()
        } catch {
          return false // a transient error such as EMFILE: the next event or poll tries again
        }
      }
      const checkFiles = async (): Promise<boolean> => {
        if (settled) return true
        // exit.json first: the supervisor writes runner.json before it, so runner.json read after
        // exit.json is there whenever the command ran at all.
        const exit = await readJson<JobExit>(join(dir, 'exit.json'))
        const runner = await readJson<RunnerRecord>(join(dir, 'runner.json'))
        if (runner) { job.runner = runner; settle(null, infoOf(job.id, runner)); return true }
        if (exit) { job.exit = exit; settle(null, exit); return true } // it never ran: the supervisor says why
        return false
      }
      const off = job.watch.on(f => {
        if (f === 'runner.json' || f === 'exit.json') {
          // The supervisor has answered: the record is there, or it refused the job.
          answered = true
          void check().then(done => { if (!done) settle(new Error(`job ${spec.id}: the supervisor did not take the job (see ${this.link.logPath})`)) })
        } else if (f === null) {
          void check().then(done => {
            if (!done && sent && !answered && !this.link.connected()) settle(new Error(`job ${spec.id}: the supervisor went away before starting the command (see ${this.link.logPath})`))
          })
        }
      })
      const timeout = setTimeout(() => {
        settle(new Error(`job ${spec.id}: the supervisor did not start the command within ${this.startTimeoutMs} ms (see ${this.link.logPath})`))
      }, this.startTimeoutMs)
      this.link.start(dir).then(() => { sent = true }, (err: Error) => settle(new Error(`job ${spec.id}: ${err.message}`)))
    })
  }

  async recover (id: string, dirIn: string): Promise<JobInfo | JobExit | null> {
    if (!SAFE_ID.test(id)) throw new Error(`job id ${JSON.stringify(id)} is not safe as a file name`)
    const dir = resolve(this.rootDir, dirIn)
    if (!fs.existsSync(join(dir, 'spec.json'))) return null
    const job = this.register(id, dir, false)
    const exit = await readJson<JobExit>(join(dir, 'exit.json'))
    if (exit) { job.exit = exit; return exit }
    const runner = (await readJson<RunnerRecord>(join(dir, 'runner.json'))) ?? await this.runnerStartingUp(job)
    if (runner && 'reason' in runner) { job.exit = runner; return runner }
    if (runner && supervisorAlive(runner, dir)) {
      job.runner = runner
      this.link.connect().catch(() => {}) // its messages say when the job ends
      return infoOf(id, runner)
    }
    const late = await readJson<JobExit>(join(dir, 'exit.json')) // it finished between our reads
    if (late) { job.exit = late; return late }
    if (!runner) {
      // The supervisor went before it started the command: the job never ran, and may start afresh.
      this.jobs.delete(id)
      await fsp.rm(join(dir, 'spec.json'), { force: true })
      return null
    }
    return await this.markLost(job, runner, LOST_DOWN)
  }

  wait (id: string): Promise<JobExit> {
    let job: Job
    try { job = this.get(id) } catch (e) { return Promise.reject(e) }
    if (job.exit) return Promise.resolve(job.exit)
    job.exitPromise ??= new Promise<JobExit>(resolvePromise => {
      let done = false
      const finish = (e: JobExit) => {
        if (done) return
        done = true
        job.exit = e
        off()
        resolvePromise(e)
      }
      const check = async (liveness: boolean) => {
        try {
          await checkFiles(liveness)
        } catch {} // a transient error (EMFILE, …): the next event or poll tries again
      }
      const checkFiles = async (liveness: boolean) => {
        if (done) return
        const e = await readJson<JobExit>(join(job.dir, 'exit.json'))
        if (e) return finish(e)
        if (!liveness) return
        const runner = job.runner ?? await readJson<RunnerRecord>(join(job.dir, 'runner.json'))
        if (!runner) return // still starting: start says when it fails
        job.runner = runner
        if (supervisorAlive(runner, job.dir)) return
        const late = await readJson<JobExit>(join(job.dir, 'exit.json'))
        if (done) return
        finish(late ?? await this.markLost(job, runner, LOST_UP))
      }
      const off = job.watch.on(f => {
        if (f === 'exit.json') void check(false)
        else if (f === null) void check(true)
      })
      void check(true)
    })
    return job.exitPromise
  }

  async stop (id: string, graceMs: number): Promise<void> {
    await this.request(id, { action: 'stop', graceMs: Math.max(0, Math.floor(graceMs)) })
  }

  async kill (id: string): Promise<void> {
    await this.request(id, { action: 'kill' })
  }

  async * logs (id: string, opts: LogsOptions = {}): AsyncGenerator<LogChunk> {
    const job = this.get(id)
    const { follow = false, signal } = opts
    if (!follow) { yield * readLogFiles(job.dir, { since: opts.since, signal }); return }

    let finished = false
    let wake: (() => void) | null = null
    // A poke while the reader is busy is kept for its next wait, never lost: the job's exit
    // often lands between a read and the wait after it, and a lost poke cost the 250 ms fallback.
    let poked = false
    const poke = () => { const w = wake; wake = null; if (w) w(); else poked = true }
    const off = job.watch.on(f => { if (f === null || f === 'output.log' || f === 'output.idx' || f === 'exit.json') poke() }, { files: true })
    void this.wait(id).then(() => { finished = true; poke() })
    signal?.addEventListener('abort', poke, { once: true })
    try {
      yield * readLogFiles(job.dir, {
        since: opts.since,
        signal,
        follow: {
          ended: () => finished,
          changed: () => new Promise<void>(resolve => {
            if (poked) { poked = false; resolve(); return }
            wake = resolve
            setTimeout(poke, 250) // fallback when the directory cannot be watched
          })
        }
      })
    } finally {
      off()
      signal?.removeEventListener('abort', poke)
    }
  }

  async stats (id: string): Promise<JobStats | null> {
    const job = this.get(id)
    if (job.exit || fs.existsSync(join(job.dir, 'exit.json'))) return null
    const runner = job.runner ?? await readJson<RunnerRecord>(join(job.dir, 'runner.json'))
    if (!runner || !supervisorAlive(runner, job.dir)) return null
    job.runner = runner
    let ticks = 0
    let rss = 0
    for (const pid of jobPids(runner.pid, runner.cgroups ?? [])) {
      const f = procStat(pid)
      if (!f) continue
      // after the command name: state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
      // cmajflt utime(14) stime cutime cstime
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
        if (m) rss += Number(m[1]) * 1024
      } catch {}
    }
    const fromCgroup = cgroupMemory(runner.cgroups ?? [])
    return { cpuSeconds: ticks / 100, memoryBytes: fromCgroup ?? rss } // USER_HZ is 100 on Linux
  }

  async exec (id: string, opts: ExecOptions): Promise<ExecSession> {
    const job = this.get(id)
    const running = new Error(`job ${id} is not running`)
    if (job.exit || fs.existsSync(join(job.dir, 'exit.json'))) throw running
    const runner = job.runner ?? await readJson<RunnerRecord>(join(job.dir, 'runner.json'))
    if (!runner || !supervisorAlive(runner, job.dir)) throw running
    const spec = await readJson<JobSpec>(join(job.dir, 'spec.json'))
    if (!spec) throw new Error(`job ${id}: its spec.json cannot be read`)
    return await execInJob({ spec, cgroups: runner.cgroups ?? [] }, opts)
  }

  // ---

  private register (id: string, dir: string, fresh: boolean): Job {
    const known = this.jobs.get(id)
    if (known && known.dir === dir && !fresh) return known
    const job: Job = { id, dir, watch: new DirWatch(dir, 1000) }
    this.jobs.set(id, job)
    this.byDir.set(dir, job)
    return job
  }

  private get (id: string): Job {
    const known = this.jobs.get(id)
    if (known) return known
    if (SAFE_ID.test(id) && fs.existsSync(join(this.rootDir, id, 'spec.json'))) return this.register(id, join(this.rootDir, id), false)
    throw new Error(`unknown job ${JSON.stringify(id)}`)
  }

  private async request (id: string, req: { action: 'stop', graceMs: number } | { action: 'kill' }): Promise<void> {
    const job = this.get(id)
    const stopPath = join(job.dir, 'stop.json')
    if (job.exit || fs.existsSync(join(job.dir, 'exit.json'))) return
    const runner = job.runner ?? await readJson<RunnerRecord>(join(job.dir, 'runner.json'))
    if (!runner) throw new Error(`job ${id} has not started`)
    job.runner = runner
    const prev = await readJson<{ action: string }>(stopPath)
    if (!(req.action === 'stop' && prev?.action === 'kill')) await writeAtomic(stopPath, { ...req, at: Date.now() })
    // Signal only the live supervisor of this job: its pid may have been reused since it exited.
    if (!supervisorAlive(runner, job.dir)) return
    try { process.kill(runner.runnerPid, 'SIGUSR2') } catch {}
  }

  /** No runner.json: a job sent to the supervisor just before dstackd went down may still be starting. */
  private async runnerStartingUp (job: Job): Promise<RunnerRecord | JobExit | null> {
    let specAge = Infinity
    try { specAge = Date.now() - (await fsp.stat(join(job.dir, 'spec.json'))).mtimeMs } catch {}
    if (specAge > 60_000) return null
    return await new Promise(resolvePromise => {
      let done = false
      const check = async () => {
        if (done) return
        try {
          const exit = await readJson<JobExit>(join(job.dir, 'exit.json'))
          const r = await readJson<RunnerRecord>(join(job.dir, 'runner.json')) ?? exit
          if (r) finish(r)
        } catch {}
      }
      const finish = (r: RunnerRecord | JobExit | null) => { if (done) return; done = true; off(); clearTimeout(timer); clearInterval(poll); resolvePromise(r) }
      const off = job.watch.on(() => void check())
      const poll = setInterval(() => void check(), 100)
      const timer = setTimeout(() => finish(null), 5000)
      void check()
    })
  }

  /** The supervisor is gone and left no exit record: end what is left of the job, record it lost. */
  private async markLost (job: Job, runner: RunnerRecord | null | undefined, message: string): Promise<JobExit> {
    if (runner) {
      for (let i = 0; i < 3; i++) {
        const pids = jobPids(runner.pid, runner.cgroups ?? [])
        if (pids.size === 0) break
        for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch {} }
        await new Promise(r => setTimeout(r, 50))
      }
      for (const d of runner.cgroups ?? []) { try { fs.rmdirSync(d) } catch {} }
    }
    const exit: JobExit = { exitCode: null, signal: null, reason: 'lost', finishedAt: Date.now(), message }
    try {
      await writeAtomic(join(job.dir, 'exit.json'), exit)
    } catch {} // the job directory itself is gone: lost all the same
    job.exit = exit
    return exit
  }
}

function infoOf (id: string, r: RunnerRecord): JobInfo {
  return { id, pid: r.pid, startedAt: r.startedAt, limits: r.limits }
}

/**
 * What happens in one job directory, for everything waiting on it: the supervisor's messages
 * (poke), a poll as the fallback, and inotify for those that follow the output (files).
 */
type Listener = (file: string | null) => void
class DirWatch {
  private watcher: fs.FSWatcher | null = null
  private timer: NodeJS.Timeout | null = null
  private readonly listeners = new Set<Listener>()
  private fileListeners = 0
  constructor (readonly dir: string, private readonly pollMs: number) {}

  on (fn: Listener, opts: { files?: boolean } = {}): () => void {
    this.listeners.add(fn)
    if (opts.files === true && this.fileListeners++ === 0) this.openWatcher()
    this.timer ??= setInterval(() => this.poke(null), this.pollMs)
    return () => {
      if (!this.listeners.delete(fn)) return
      if (opts.files === true && --this.fileListeners === 0) this.closeWatcher()
      if (this.listeners.size === 0 && this.timer) { clearInterval(this.timer); this.timer = null }
    }
  }

  /** Tells every listener that file changed (null: anything may have). */
  poke (file: string | null) {
    for (const fn of [...this.listeners]) fn(file)
  }

  private openWatcher () {
    try {
      this.watcher = fs.watch(this.dir, (_event, file) => this.poke(file ? String(file) : null))
      this.watcher.on('error', () => { this.watcher?.close(); this.watcher = null })
    } catch { this.watcher = null } // e.g. out of inotify watches: polling only
  }

  private closeWatcher () {
    this.watcher?.close()
    this.watcher = null
  }
}

/** Why this process cannot run a command as user, or null. */
function problemWithUser (user: JobUser): string | null {
  if (!Number.isInteger(user.uid) || user.uid < 0 || !Number.isInteger(user.gid) || user.gid < 0) return `user ${JSON.stringify(user)} needs a uid and a gid`
  const self = process.getuid?.()
  if (self === undefined || self === 0 || (user.uid === self && user.gid === process.getgid?.())) return null
  return `dstackd runs as uid ${self}, so it cannot run a job as ${user.name ?? `uid ${user.uid}`} (only root can)`
}

/** The fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [2] pgrp, [3] session, … */
function procStat (pid: number): string[] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/**
 * Whether the supervisor named in runner.json still runs: that pid, still a supervisor, started
 * when the record says (a pid is reused; a pid and a start time are not). A job started before
 * the supervisor came (a host upgraded while it ran) names its own runner.js, whose last
 * argument, or working dir, is the job's dir.
 */
function supervisorAlive (r: RunnerRecord, dir: string): boolean {
  const pid = r.runnerPid
  if (!Number.isInteger(pid) || pid <= 0) return false
  let argv: string[]
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    if (fs.existsSync('/proc/self/stat')) return false
    try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
  }
  if (argv.some(a => a.endsWith('runner.js'))) {
    const last = argv[argv.length - 1] ?? ''
    const own = last === '-' ? readlinkOrNull(`/proc/${pid}/cwd`) === dir : resolve(last) === dir
    return own && procStat(pid)?.[0] !== 'Z'
  }
  if (!argv.some(a => a.endsWith('supervisor.js'))) return false
  const f = procStat(pid)
  if (f === null || f[0] === 'Z') return false
  return r.runnerStart === undefined || Number(f[19]) === r.runnerStart
}

function readlinkOrNull (path: string): string | null {
  try { return fs.readlinkSync(path) } catch { return null }
}

/** The job's processes: its process group and session (the command's pid) and its cgroups. */
function jobPids (pid: number, cgroups: string[]): Set<number> {
  const pids = new Set<number>()
  let names: string[] = []
  try { names = fs.readdirSync('/proc') } catch {}
  for (const name of names) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const f = procStat(Number(name))
    if (f && (Number(f[2]) === pid || Number(f[3]) === pid) && f[0] !== 'Z') pids.add(Number(name))
  }
  for (const d of cgroups) {
    try {
      for (const p of fs.readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p))
    } catch {}
  }
  pids.delete(process.pid)
  return pids
}

/** Memory in use by the cgroup less inactive page cache (what `docker stats` shows), or undefined. */
function cgroupMemory (cgroups: string[]): number | undefined {
  for (const d of cgroups) {
    for (const [usageFile, inactiveKey] of [['memory.usage_in_bytes', 'total_inactive_file'], ['memory.current', 'inactive_file']] as const) {
      try {
        const usage = Number(fs.readFileSync(join(d, usageFile), 'utf8').trim())
        const m = new RegExp(`^${inactiveKey} (\\d+)$`, 'm').exec(fs.readFileSync(join(d, 'memory.stat'), 'utf8'))
        return Math.max(0, usage - (m ? Number(m[1]) : 0))
      } catch {}
    }
  }
  return undefined
}
