// A shell, a command or sftp inside a job that runs on this host, through its runtime (node-pty
// for process jobs, docker exec for containers), counted as a session of the job (activity.ts).
// What runs is decided inside the job, as sshd would: the user's shell (`$SHELL`, else bash,
// else sh), as a login shell for `ssh RUN`, with `-c` for `ssh RUN 'cmd'`.
import type { Readable, Writable } from 'node:stream'
import type { ExecOptions, ExecSession } from '../../drivers/runtime/index.ts'
import type { Activity } from './activity.ts'
import type { ExecRequest, JobProcess } from './types.ts'

/** Picks the job's shell; `$1`, when given, is the command it runs. */
const SHELL = 's=$SHELL; { [ -n "$s" ] && [ -x "$s" ]; } || s=/bin/bash; [ -x "$s" ] || s=/bin/sh; ' +
  'if [ $# -eq 0 ]; then exec "$s" -l; fi; exec "$s" -c "$1"'

/** Where distributions put OpenSSH's sftp-server. */
export const SFTP_SERVERS = ['/usr/lib/openssh/sftp-server', '/usr/lib/sftp-server', '/usr/libexec/openssh/sftp-server',
  '/usr/libexec/sftp-server', '/usr/lib/ssh/sftp-server', '/usr/sbin/sftp-server', '/usr/local/libexec/sftp-server']
const FIND_SFTP = `for p in ${SFTP_SERVERS.join(' ')}; do if [ -x "$p" ]; then echo "$p"; exit 0; fi; done; exit 1`

export interface LocalExecOptions {
  /** This host's runtimes (hostRuntimes): exec goes to the one that runs the job. */
  runtime: { exec? (id: string, opts: ExecOptions): Promise<ExecSession> }
  activity: Activity
}

export type LocalExec = (job: string, request: ExecRequest) => Promise<JobProcess>

/** The output of a short command inside the job, and its exit code. */
async function probe (run: (o: ExecOptions) => Promise<ExecSession>, command: string[]): Promise<{ out: string, code: number | null }> {
  const s = await run({ command })
  s.input.end()
  const chunks: Buffer[] = []
  s.output.on('data', (c: Buffer) => chunks.push(c))
  s.stderr?.resume()
  const { code } = await s.exited
  return { out: Buffer.concat(chunks).toString('utf8'), code }
}

export function localExec (opts: LocalExecOptions): LocalExec {
  return async (job, request) => {
    const exec = opts.runtime.exec
    if (!exec) throw new Error('this host\'s runtime cannot run a command inside a job')
    const run = (o: ExecOptions) => exec.call(opts.runtime, job, o)
    let command: string[]
    if (request.subsystem === 'sftp') {
      const found = await probe(run, ['/bin/sh', '-c', FIND_SFTP])
      const path = found.out.trim()
      if (found.code !== 0 || path === '') {
        throw new Error('sftp: the job has no sftp-server (install openssh-sftp-server in its image or host; looked in ' + SFTP_SERVERS.join(', ') + ')')
      }
      command = [path]
    } else {
      // The pty's size, set from inside too: an engine older than API 1.42 (docker 20.10) creates
      // an exec's terminal at 0x0 and resizes it only after the command has started.
      const size = request.tty ? `stty cols ${Math.trunc(request.tty.cols)} rows ${Math.trunc(request.tty.rows)} 2>/dev/null; ` : ''
      command = ['/bin/sh', '-c', size + SHELL, 'sh', ...(request.command === undefined ? [] : [request.command])]
    }
    const session = await run({
      command,
      ...(request.tty ? { tty: { cols: request.tty.cols, rows: request.tty.rows } } : {}),
      env: { ...(request.tty?.term ? { TERM: request.tty.term } : {}), ...request.env }
    })
    const close = opts.activity.open(job)
    const exited = session.exited.finally(close)
    exited.catch(() => {})
    return {
      stdin: session.input as Writable,
      stdout: session.output as Readable,
      ...(session.stderr ? { stderr: session.stderr as Readable } : {}),
      resize: (cols, rows) => { void session.resize?.(cols, rows).catch(() => {}) },
      signal: name => { try { session.signal?.(name) } catch {} },
      exited
    }
  }
}
