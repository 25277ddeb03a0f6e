// The contract between the agent and whatever runs a job on this host (DESIGN.md, "Runtimes").
// drivers/ never imports daemon/ or tui/: these are the only types a runtime needs.

export interface JobLimits {
  /** CPU cores (fractions allowed), enforced as a CFS quota. */
  cpus?: number
  /** Memory in bytes; past it the kernel OOM-kills a process of the job. */
  memoryBytes?: number
}

/** Who a job's command runs as: uid, gid and supplementary groups (default: just gid). */
export interface JobUser {
  uid: number
  gid: number
  groups?: number[]
  /** For messages only. */
  name?: string
}

export interface JobSpec {
  /** Unique per job attempt, safe as a file name. */
  id: string
  /** The job directory (created by start): spec.json, output.log, output.idx, runner.json, exit.json. */
  dir: string
  /** argv, e.g. ['/bin/bash', '-i', '-c', 'echo a && { sleep 9 & } && echo b']. */
  command: string[]
  /** The job's whole environment: nothing of the daemon's is inherited (TERM defaults to xterm-256color). */
  env: Record<string, string>
  /** Absolute; created if missing. */
  workingDir: string
  limits?: JobLimits
  /**
   * Run the command as this user; the runtime's own bookkeeping stays dstackd's. Anyone other
   * than dstackd's own user needs dstackd to run as root. Absent: dstackd's own user.
   */
  user?: JobUser
  /** Enforced by the runner itself, so it holds while dstackd is down. null/undefined/0: no limit. */
  maxDurationSec?: number | null
  /** At max_duration: milliseconds between SIGTERM and SIGKILL (default 10,000). */
  killGraceMs?: number
}

export type ExitReason = 'exited' | 'max_duration_exceeded' | 'stopped' | 'killed' | 'lost'

export interface JobExit {
  /** The command's exit status; null when it died of a signal (or never ran). */
  exitCode: number | null
  /** The signal that ended the command ('SIGKILL', …), or null. */
  signal: string | null
  reason: ExitReason
  /** Epoch ms. */
  finishedAt: number
  message?: string
}

export interface LogChunk {
  /** Epoch ms at which the runner read these bytes from the pty. */
  at: number
  /** Byte offset of data in the job's output. */
  offset: number
  data: Buffer
}

export interface LimitsStatus {
  /** true when every requested limit is enforced. */
  applied: boolean
  /** Why not (or what was only partly applied). */
  why?: string
  /** The job's cgroup directory (the memory one on cgroup v1). */
  cgroup?: string
}

export interface JobInfo {
  id: string
  /** The command's pid, which is also its process group and session id. */
  pid: number
  /** Epoch ms. */
  startedAt: number
  limits: LimitsStatus
}

export interface LogsOptions {
  /** Epoch ms: chunks read before it are skipped. */
  since?: number
  /** Keep yielding new output until the job has exited and everything was read (or signal aborts). */
  follow?: boolean
  signal?: AbortSignal
}

export interface JobStats {
  cpuSeconds?: number
  memoryBytes?: number
}

export interface Runtime {
  readonly name: string
  /**
   * Says whether the job started: JobInfo once the command runs, or the JobExit of a command
   * that could not be started (not found, say). Rejects only when the spec is bad or the runtime
   * could not even try.
   */
  start (spec: JobSpec): Promise<JobInfo | JobExit>
  /**
   * After a daemon restart: a live job is re-adopted (JobInfo); one that finished meanwhile gives
   * its JobExit; one whose runner vanished without an exit record gives reason 'lost'; null when
   * the job never started here (so starting it now runs it once).
   */
  recover (id: string, dir: string): Promise<JobInfo | JobExit | null>
  /** Works for re-adopted jobs too. */
  wait (id: string): Promise<JobExit>
  /** Asks for a graceful stop (SIGINT, SIGKILL after graceMs); resolves once the request is delivered. */
  stop (id: string, graceMs: number): Promise<void>
  /** Kills the job at once; resolves once the request is delivered. */
  kill (id: string): Promise<void>
  logs (id: string, opts?: LogsOptions): AsyncIterable<LogChunk>
  /** null when the job is not running. */
  stats (id: string): Promise<JobStats | null>
}

export function isJobExit (x: JobInfo | JobExit): x is JobExit {
  return 'reason' in x
}
