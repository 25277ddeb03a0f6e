// One SSH session channel of the gateway: the requests that set it up (pty-req, env), the one
// that starts it (shell, exec, subsystem), and those that steer what runs (window-change,
// signal). What runs is JobAccess's; this file maps SSH onto it and back: stdin, stdout and
// stderr with back-pressure both ways, then exit-status (or exit-signal) and close.
//
// pty modes (the terminal's termios settings) are not passed on: the job's pty starts with
// its defaults, the size and TERM the client asked for.
import type { ServerChannel, Session } from 'ssh2'
import type { Readable } from 'node:stream'
import type { Log } from '../log.ts'
import type { ExecRequest, JobAccess, JobProcess, JobTarget } from './types.ts'

/** The job a session reaches: one to run in, a refusal for the user, or none (the login names no job). */
export type ChannelTarget = { target: JobTarget } | { refused: string } | { none: string }

export interface SessionChannelOptions {
  /** Resolved when the session starts something: the state may have changed since the login. */
  target: () => ChannelTarget
  jobs: JobAccess
  /** Serves the `dstack-api` subsystem on the channel. */
  api: (channel: ServerChannel) => void
  log: Log
}

/** Client env requests kept per session, and the size of each. */
const MAX_ENV = 64
const MAX_ENV_BYTES = 4096
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** After the command exits, how long its output may take to drain (a background child may hold the pipe). */
const DRAIN_GRACE_MS = 1000

export function serveSessionChannel (session: Session, opts: SessionChannelOptions): void {
  let tty: ExecRequest['tty']
  const env: Record<string, string> = {}
  let proc: JobProcess | undefined
  let started = false
  /** Steering that came before the process was there. */
  const pending: Array<(p: JobProcess) => void> = []
  const steer = (act: (p: JobProcess) => void): void => { if (proc !== undefined) act(proc); else pending.push(act) }

  session.on('error', () => {})
  session.on('pty', (accept, reject, info) => {
    if (started) { reject?.(); return }
    tty = { cols: clampSize(info.cols, 80), rows: clampSize(info.rows, 24), ...(info.term ? { term: String(info.term).slice(0, 64) } : {}) }
    accept?.()
  })
  session.on('env', (accept, reject, info) => {
    const value = String(info.val)
    if (started || !ENV_NAME.test(info.key) || Object.keys(env).length >= MAX_ENV || value.length > MAX_ENV_BYTES) { reject?.(); return }
    env[info.key] = value
    accept?.()
  })
  session.on('window-change', (accept, _reject, info) => {
    const cols = clampSize(info.cols, 80)
    const rows = clampSize(info.rows, 24)
    if (tty !== undefined) tty = { ...tty, cols, rows }
    steer(p => p.resize(cols, rows))
    accept?.()
  })
  session.on('signal', (accept, reject, info) => {
    const name = String(info.name)
    if (!/^[A-Z0-9]{1,16}$/.test(name)) { reject?.(); return }
    steer(p => p.signal(name))
    accept?.()
  })

  const start = (accept: () => ServerChannel | undefined, request: Omit<ExecRequest, 'tty' | 'env'>): void => {
    if (started) return
    started = true
    const channel = accept()
    if (channel === undefined) return
    channel.on('error', () => {})
    channel.stderr.on('error', () => {})
    const to = opts.target()
    if (!('target' in to)) { refuse(channel, 'none' in to ? to.none : to.refused); return }
    const full: ExecRequest = { ...request, ...(tty !== undefined ? { tty } : {}), ...(Object.keys(env).length > 0 ? { env: { ...env } } : {}) }
    opts.jobs.exec(to.target, full).then(p => {
      proc = p
      for (const act of pending.splice(0)) act(p)
      wire(channel, p)
    }, err => refuse(channel, (err as Error).message))
  }

  session.on('shell', accept => start(accept, {}))
  session.on('exec', (accept, _reject, info) => start(accept, { command: info.command }))
  session.on('subsystem', (accept, reject, info) => {
    if (info.name === 'sftp') { start(accept, { subsystem: 'sftp' }); return }
    if (info.name !== 'dstack-api' || started) { reject?.(); return }
    started = true
    const channel = accept()
    channel.on('error', () => {})
    opts.api(channel)
  })
}

/** A size from the client, kept to what a terminal can be (0 or junk: the default). */
function clampSize (n: unknown, fallback: number): number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? Math.min(n, 4096) : fallback
}

/** Says why on stderr, exit status 1, closed. */
function refuse (channel: ServerChannel, message: string): void {
  if (channel.destroyed) return
  channel.stderr.write(`${message}\n`)
  channel.exit(1)
  channel.end()
}

function ended (stream: Readable | undefined): Promise<void> {
  if (stream === undefined || stream.readableEnded || stream.destroyed) return Promise.resolve()
  return new Promise(resolve => {
    stream.once('end', resolve)
    stream.once('close', resolve)
  })
}

/** Pipes a running command to its channel, both ways, and ends the channel with its exit. */
function wire (channel: ServerChannel, p: JobProcess): void {
  p.stdin.on('error', () => {})
  p.stdout.on('error', () => {})
  p.stderr?.on('error', () => {})
  let exited = false
  // The client went away (or closed the channel) first: the command gets the hangup a terminal gives.
  channel.on('close', () => {
    if (!exited) p.signal('HUP')
    p.stdout.unpipe(channel)
    p.stderr?.unpipe(channel.stderr)
  })
  channel.pipe(p.stdin)
  p.stdout.pipe(channel, { end: false })
  p.stderr?.pipe(channel.stderr, { end: false })
  void p.exited.then(async result => {
    exited = true
    const drained = Promise.all([ended(p.stdout), ended(p.stderr)])
    await Promise.race([drained, new Promise(resolve => setTimeout(resolve, DRAIN_GRACE_MS).unref())])
    if (channel.destroyed) return
    if (result.signal !== undefined) channel.exit(result.signal.replace(/^SIG/, ''), false, '')
    else channel.exit(result.code ?? 255)
    channel.end()
  }, () => {
    exited = true
    if (!channel.destroyed) { channel.exit(255); channel.end() }
  })
}
