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
  /** Set for a job that runs in a container (the docker runtime); the process runtime refuses it. */
  container?: ContainerSpec
}

/** A device the job was given, for device requests (docker) or visibility variables (process). */
export interface JobDevice {
  vendor: string
  /** The device's index on the host (nvidia-smi's, amd-smi's). */
  index: number
  /** NVIDIA: the GPU's UUID (GPU-…), what a device request names. */
  uuid?: string
}

/** What a container job adds to a JobSpec (SPEC §3: image, docker, privileged, shm_size, volumes). */
export interface ContainerSpec {
  image: string
  /** Credentials for pulling `image` (registry_auth, values already interpolated). Never logged. */
  registryAuth?: { username: string, password: string } | null
  /** Replaces the image's entrypoint (SPEC `entrypoint`, split like a shell would). */
  entrypoint?: string[] | null
  /** The user inside the image ('root', 'UID[:GID]', a name); absent: the image's own. */
  user?: string | null
  /** Asked for `privileged: true`. The runtime falls back to a capability set when the engine refuses, and says so. */
  privileged?: boolean
  /** /dev/shm size in bytes; absent: the engine's default. */
  shmSizeBytes?: number | null
  /** Published on 127.0.0.1 only; host 0: a free port. The runtime reports what it bound (JobInfo.ports). */
  ports?: Array<{ container: number, host: number }>
  /** Instance volumes: bind mounts of host paths (optional: skipped when the host path is missing). */
  volumes?: Array<{ hostPath: string, path: string, optional?: boolean }>
  /** Exactly the accelerators the scheduler gave the job; none: the job sees none. */
  devices?: JobDevice[]
  /** `docker: true`: an engine runs inside the job (needs privileges, see `privileged`). */
  docker?: boolean
}

export interface StartHooks {
  /** Progress while the job is not running yet (an image pull), in dstack's words (SPEC §3.3). */
  progress? (text: string): void
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
  /** Container jobs: the host ports (on 127.0.0.1) their container ports were published on. */
  ports?: Array<{ container: number, host: number }>
  /** Anything the runtime did differently from what was asked (privileged fell back to capabilities, …), for `ps -v`. */
  notes?: string[]
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
  start (spec: JobSpec, hooks?: StartHooks): Promise<JobInfo | JobExit>
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
  /**
   * A command inside a running job (for `ssh RUN`, attach): with the job's env, working dir and
   * user; a pty when `tty` is set. Optional until the SSH gateway needs it.
   */
  exec? (id: string, opts: ExecOptions): Promise<ExecSession>
  /** Frees what the runtime keeps of a finished job (a container); its logs stay readable. */
  remove? (id: string): Promise<void>
}

export interface ExecOptions {
  command: string[]
  tty?: { cols: number, rows: number }
  env?: Record<string, string>
}

export interface ExecSession {
  /** stdin of the command. */
  input: NodeJS.WritableStream
  /** stdout (and stderr, merged when there is a tty). */
  output: NodeJS.ReadableStream
  stderr?: NodeJS.ReadableStream
  resize? (cols: number, rows: number): Promise<void>
  /** Sends a signal (`INT` or `SIGINT`, …) to the command. */
  signal? (name: string): void
  /** Resolves once the command ends: its exit code, or the signal that ended it (`SIGKILL`, …). */
  exited: Promise<{ code: number | null, signal?: string }>
}

export function isJobExit (x: JobInfo | JobExit): x is JobExit {
  return 'reason' in x
}
