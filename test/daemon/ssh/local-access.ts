// A JobAccess for the gateway's tests only: it runs /bin/sh on this machine (node-pty for a
// pty, a child process otherwise) and forwards to 127.0.0.1, so the SSH plumbing (pty, exec,
// exit status, signals, resize, sftp, direct-tcpip) is tested apart from how the daemon reaches
// a job. It records what it was asked, for the tests to check.
import { spawn } from 'node:child_process'
import net from 'node:net'
import { constants } from 'node:os'
import { PassThrough, Writable, type Duplex } from 'node:stream'
import pty from 'node-pty'
import type { ExecRequest, JobAccess, JobProcess, JobTarget } from '../../../daemon/ssh/types.ts'

export const SFTP_SERVER = '/usr/lib/openssh/sftp-server'

export interface LocalAccess extends JobAccess {
  /** Every exec asked for, oldest first. */
  readonly execs: Array<{ target: JobTarget, request: ExecRequest }>
  /** Every forward asked for. */
  readonly forwards: Array<{ target: JobTarget, port: number }>
}

const NAMES: Record<string, NodeJS.Signals> = { INT: 'SIGINT', TERM: 'SIGTERM', KILL: 'SIGKILL', HUP: 'SIGHUP', QUIT: 'SIGQUIT', USR1: 'SIGUSR1', USR2: 'SIGUSR2' }

function envOf (target: JobTarget, request: ExecRequest): Record<string, string> {
  return { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', DSTACK_RUN_NAME: target.run, ...(request.tty?.term !== undefined ? { TERM: request.tty.term } : {}), ...request.env }
}

function withPty (target: JobTarget, request: ExecRequest): JobProcess {
  const tty = request.tty!
  const child = pty.spawn('/bin/sh', request.command === undefined ? [] : ['-c', request.command], { cols: tty.cols, rows: tty.rows, name: tty.term ?? 'xterm', cwd: '/tmp', env: envOf(target, request) })
  const stdout = new PassThrough()
  child.onData(data => stdout.write(data))
  const exited = new Promise<{ code: number | null, signal?: string }>(resolve => {
    child.onExit(({ exitCode, signal }) => {
      stdout.end()
      const name = signal ? Object.entries(NAMES).find(([, s]) => constants.signals[s] === signal)?.[0] : undefined
      resolve(name !== undefined ? { code: null, signal: name } : { code: exitCode })
    })
  })
  const stdin = new Writable({ write (chunk, _enc, done) { try { child.write(chunk.toString()) } catch {} done() } })
  return {
    stdin, stdout, exited,
    resize: (cols, rows) => { try { child.resize(cols, rows) } catch {} },
    signal: name => { try { child.kill(NAMES[name] ?? 'SIGTERM') } catch {} }
  }
}

function withPipes (target: JobTarget, request: ExecRequest): JobProcess {
  const argv = request.subsystem === 'sftp' ? [SFTP_SERVER, []] as const : ['/bin/sh', request.command === undefined ? [] : ['-c', request.command]] as const
  const child = spawn(argv[0], [...argv[1]], { cwd: '/tmp', env: envOf(target, request), stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null, signal?: string }>(resolve => {
    child.on('error', () => resolve({ code: 127 }))
    child.on('exit', (code, signal) => resolve(signal !== null ? { code: null, signal: signal.replace(/^SIG/, '') } : { code }))
  })
  return {
    stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited,
    resize: () => {},
    signal: name => { child.kill(NAMES[name] ?? 'SIGTERM') }
  }
}

export function localAccess (): LocalAccess {
  const execs: LocalAccess['execs'] = []
  const forwards: LocalAccess['forwards'] = []
  return {
    execs,
    forwards,
    async exec (target, request) {
      execs.push({ target, request })
      return request.tty !== undefined && request.subsystem === undefined ? withPty(target, request) : withPipes(target, request)
    },
    async forward (target, port): Promise<Duplex> {
      forwards.push({ target, port })
      return await new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1')
        socket.once('connect', () => { socket.off('error', reject); resolve(socket) })
        socket.once('error', reject)
      })
    }
  }
}
