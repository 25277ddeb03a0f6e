// What the SSH gateway (./gateway.ts, ssh2 server) needs from the rest of the daemon to reach a
// job: the gateway authenticates, resolves the login name to a job the user may touch, and hands
// every shell, exec, subsystem and port forward to JobAccess, which runs it on whichever host
// runs the job (locally through the runtime, or relayed over the mesh).
//
// Login names (the SSH user): `PROJECT/RUN` is job 0 of replica 0 of RUN in PROJECT,
// `PROJECT/RUN-REPLICA-JOB` another job (dstack's job name). Any other login name (such as the
// dstack user's own name) targets no job: such a connection may use only the `dstack-api`
// subsystem (the RPC engine, as on the Unix socket).
import type { Duplex, Readable, Writable } from 'node:stream'

/** The job a connection's login name resolves to. */
export interface JobTarget {
  project: string
  run: string
  /** The job's submission id (what the agent and the runtime know it by). */
  job: string
  /** The mesh peer id of the host that runs it. */
  node: string
  replica: number
  jobNum: number
}

export interface ExecRequest {
  /** What to run: undefined is the job's login shell (`ssh RUN`), a string is run by that shell (`ssh RUN 'cmd'`). */
  command?: string
  /** A subsystem instead of a command: `sftp` runs the job's sftp-server. */
  subsystem?: 'sftp'
  /** Allocate a pty of this size (ssh's pty-req). */
  tty?: { cols: number, rows: number, term?: string }
  /** Extra variables the client sent (ssh's env requests), on top of the job's own env. */
  env?: Record<string, string>
}

/** A command running inside a job for one SSH channel. */
export interface JobProcess {
  stdin: Writable
  /** stdout; with a pty, stdout and stderr merged. */
  stdout: Readable
  stderr?: Readable
  resize (cols: number, rows: number): void
  /** A signal by its SSH name without SIG (`INT`, `TERM`, `KILL`, `HUP`, …). */
  signal (name: string): void
  /** Resolves when the command ends: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null, signal?: string }>
}

export interface JobAccess {
  /** Runs a shell, a command or a subsystem inside the job; rejects with a message for the user when it cannot. */
  exec (target: JobTarget, request: ExecRequest): Promise<JobProcess>
  /** A byte pipe to `port` inside the job (direct-tcpip). */
  forward (target: JobTarget, port: number): Promise<Duplex>
}
