// A command run inside a process job for `ssh RUN` and friends: as the job's user, in its working
// dir, with its environment, and inside its cgroups (so the job's limits hold and its end takes
// the command along). With a tty it gets a pty of its own (node-pty), else plain pipes with a
// separate stderr. The command is dstackd's child, not the supervisor's: it ends with its session.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { signalName, signalOfNumber } from '../signals.ts'
import type { ExecOptions, ExecSession, JobSpec } from '../types.ts'

/** What exec needs of a running job: its spec as started, and its cgroups. */
export interface RunningJob {
  spec: Pick<JobSpec, 'id' | 'env' | 'workingDir' | 'user'>
  cgroups: string[]
}

function joinCgroups (pid: number, cgroups: string[]): void {
  for (const dir of cgroups) { try { fs.writeFileSync(join(dir, 'cgroup.procs'), String(pid)) } catch {} }
}

function signalProcess (pid: number, name: string): void {
  const sig = signalName(name)
  // The command leads its own process group (pty: a session; pipes: detached): the signal reaches its children too.
  try { process.kill(-pid, sig) } catch { try { process.kill(pid, sig) } catch {} }
}

export async function execInJob (job: RunningJob, opts: ExecOptions): Promise<ExecSession> {
  const { spec } = job
  if (!Array.isArray(opts.command) || opts.command.length === 0 || opts.command.some(a => typeof a !== 'string')) {
    throw new Error(`job ${spec.id}: exec needs a command (a non-empty list of strings)`)
  }
  const env: Record<string, string> = { ...spec.env, ...opts.env }
  const user = spec.user
  const asRoot = process.getuid?.() === 0
  if (opts.tty) {
    env.TERM ??= 'xterm-256color'
    const pty = await import('node-pty')
    const own = asRoot ? process.getgroups!() : []
    // The fork sets only uid and gid: the user's groups are set around it, ours given back after.
    if (user && asRoot) process.setgroups!(user.groups?.length ? user.groups : [user.gid])
    let term: import('node-pty').IPty
    try {
      term = pty.spawn(opts.command[0]!, opts.command.slice(1), {
        name: env.TERM, cols: opts.tty.cols, rows: opts.tty.rows, cwd: spec.workingDir, env, encoding: null,
        ...(user ? { uid: user.uid, gid: user.gid } : {})
      } as import('node-pty').IPtyForkOptions)
    } finally {
      if (user && asRoot) { try { process.setgroups!(own) } catch {} }
    }
    joinCgroups(term.pid, job.cgroups)
    let paused = false
    const output = new Readable({ read () { if (paused) { paused = false; term.resume() } } })
    term.onData(data => {
      if (!output.push(typeof data === 'string' ? Buffer.from(data) : data) && !paused) { paused = true; term.pause() }
    })
    const input = new Writable({
      write (chunk: Buffer, _enc, done) { try { term.write(chunk as unknown as string) } catch {} done() },
      // End of input on a terminal is the user's ^D: the shell decides; nothing to close here.
      final (done) { done() }
    })
    const exited = new Promise<{ code: number | null, signal?: string }>(resolve => {
      term.onExit(({ exitCode, signal }) => {
        output.push(null)
        const name = signal ? signalOfNumber(signal) : undefined
        resolve(name ? { code: null, signal: name } : { code: exitCode })
      })
    })
    return {
      input, output, exited,
      resize: async (cols, rows) => { try { term.resize(cols, rows) } catch {} },
      signal: name => signalProcess(term.pid, name)
    }
  }
  const child = spawn(opts.command[0]!, opts.command.slice(1), {
    cwd: spec.workingDir, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    ...(user ? { uid: user.uid, gid: user.gid } : {})
  })
  const exited = new Promise<{ code: number | null, signal?: string }>((resolve, reject) => {
    child.once('error', err => reject(new Error(`job ${spec.id}: cannot run ${opts.command[0]}: ${err.message}`)))
    child.once('close', (code, signal) => resolve(signal ? { code: null, signal } : { code }))
  })
  // A command that could not start at all is an error of exec, not an exit.
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    exited.catch(reject)
  })
  joinCgroups(child.pid!, job.cgroups)
  child.stdin.on('error', () => {}) // the command may exit before it reads its input
  return {
    input: child.stdin,
    output: child.stdout,
    stderr: child.stderr,
    exited,
    signal: name => signalProcess(child.pid!, name)
  }
}
