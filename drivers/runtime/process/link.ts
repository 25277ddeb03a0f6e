// The daemon's connection to the supervisor of its jobs area (supervisor.js): found on its Unix
// socket, started detached when none answers (at the first job, or after one died), and told
// each job to start. The files in the job dirs stay the record; the link only carries news.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SUPERVISOR_PATH = fileURLToPath(new URL('./supervisor.js', import.meta.url))
// The supervisor only moves bytes between native calls: V8's interpreter is enough, and without
// the JIT it starts in about half the CPU time.
const SUPERVISOR_FLAGS = ['--jitless', '--no-expose-wasm']
const ANSWER_MS = 10_000
const SUN_PATH_MAX = 107

export interface SupervisorLink {
  /** Sends the job in dir to the supervisor, starting one first where none answers. */
  start (dir: string): Promise<void>
  /** Connects (starting a supervisor where none answers), so that its messages come. */
  connect (): Promise<void>
  connected (): boolean
  /** Where the supervisor writes what went wrong. */
  readonly logPath: string
}

export interface LinkEvents {
  /** The supervisor wrote runner.json ('started') or exit.json ('exit') in dir. */
  event (op: 'started' | 'exit', dir: string): void
  /** The connection closed: the supervisor died or exited. */
  gone (): void
}

export function supervisorLink (rootDir: string, events: LinkEvents): SupervisorLink {
  return new Link(rootDir, events)
}

class Link implements SupervisorLink {
  readonly logPath: string
  private readonly home: string
  private sock: net.Socket | null = null
  private opening: Promise<net.Socket> | null = null

  constructor (private readonly rootDir: string, private readonly events: LinkEvents) {
    this.home = join(rootDir, '.supervisor')
    this.logPath = join(this.home, 'supervisor.log')
  }

  connected (): boolean {
    return this.sock !== null && !this.sock.destroyed
  }

  async start (dir: string): Promise<void> {
    const sock = await this.socket()
    sock.write(JSON.stringify({ op: 'start', dir }) + '\n')
  }

  async connect (): Promise<void> {
    await this.socket()
  }

  private socket (): Promise<net.Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock)
    this.opening ??= this.open().finally(() => { this.opening = null })
    return this.opening
  }

  private async open (): Promise<net.Socket> {
    // Only dstackd's user may enter: whoever reaches the socket can have a job started.
    fs.mkdirSync(this.home, { recursive: true, mode: 0o700 })
    fs.chmodSync(this.home, 0o700)
    const path = socketPath(this.home)
    const deadline = Date.now() + ANSWER_MS
    let child: ChildProcess | null = null
    let lastError = ''
    for (;;) {
      try {
        const sock = await dial(path)
        this.wire(sock)
        return sock
      } catch (e) {
        lastError = (e as Error).message
      }
      if (Date.now() > deadline) throw new Error(`the job supervisor did not answer on ${path} within ${ANSWER_MS} ms (${lastError}; see ${this.logPath})`)
      if (child === null || child.exitCode !== null || child.signalCode !== null) child = this.spawn(path)
      await new Promise(resolve => setTimeout(resolve, 15))
    }
  }

  private wire (sock: net.Socket): void {
    this.sock = sock
    sock.unref() // the link never keeps dstackd (or a test) alive
    sock.setEncoding('utf8')
    let rest = ''
    sock.on('data', (text: string) => {
      const lines = (rest + text).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        try {
          const msg = JSON.parse(line) as { op?: unknown, dir?: unknown }
          if ((msg.op === 'started' || msg.op === 'exit') && typeof msg.dir === 'string') this.events.event(msg.op, msg.dir)
        } catch {} // a torn line: the files say the same
      }
    })
    sock.on('error', () => {})
    sock.on('close', () => {
      if (this.sock === sock) this.sock = null
      this.events.gone()
    })
  }

  /** A detached supervisor with nothing of the daemon's environment; the jobs get exactly their spec's. */
  private spawn (path: string): ChildProcess {
    const env: Record<string, string> = {}
    if (process.env.LD_LIBRARY_PATH) env.LD_LIBRARY_PATH = process.env.LD_LIBRARY_PATH
    let log: number | 'ignore' = 'ignore'
    try { log = fs.openSync(this.logPath, 'a', 0o600) } catch {}
    const child = spawn(process.execPath, [...SUPERVISOR_FLAGS, SUPERVISOR_PATH, this.rootDir, path], { detached: true, stdio: ['ignore', 'ignore', log], env, cwd: '/' })
    if (typeof log === 'number') fs.closeSync(log)
    child.on('error', () => {}) // the next dial says it
    child.unref()
    return child
  }
}

function dial (path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path)
    sock.once('connect', () => { sock.removeAllListeners('error'); resolve(sock) })
    sock.once('error', reject)
  })
}

/**
 * The socket in the supervisor's directory, or, where that path is too long for a Unix socket,
 * in a directory of this user's under the temporary dir named after it.
 */
function socketPath (home: string): string {
  const path = join(home, 'sock')
  if (Buffer.byteLength(path) <= SUN_PATH_MAX) return path
  const dir = join(tmpdir(), `dstackd-supervisor-${createHash('sha256').update(home).digest('hex').slice(0, 16)}`)
  try { fs.mkdirSync(dir, { mode: 0o700 }) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e }
  const st = fs.lstatSync(dir)
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} (for the job supervisor's socket) is not a private directory of this user`)
  }
  return join(dir, 'sock')
}
