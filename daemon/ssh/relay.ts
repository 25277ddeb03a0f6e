// Exec into a job that runs on another host: a libp2p stream of EXEC_PROTOCOL to that host's
// dstackd, which runs the command there (local.ts) and relays its streams. Every node serves it;
// the mesh's private network admits only members, and the gateway has already checked the user.
//
// Frames are mesh/frames.ts's (length-prefixed JSON objects); bytes travel base64 in them.
//   dialer → host:  {open: {job, request}}, then {stdin}, {eof}, {resize: [cols, rows]}, {signal}
//   host → dialer:  {ok: true} or {error}, then {stdout}, {stderr}, and last {exit: {code, signal?}}
// A frame that is not one of these ends the stream with an error, never the daemon.
import { Readable, Writable } from 'node:stream'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeFrame, isObject } from '../../mesh/frames.ts'
import type { Mesh } from '../../mesh/index.ts'
import { FrameReader, waitForDrain } from '../../mesh/rpc/libp2p.ts'
import type { LocalExec } from './local.ts'
import type { ExecRequest, JobProcess } from './types.ts'

export const EXEC_PROTOCOL = '/dstack/exec/1.0.0'

/** The largest frame either side takes: data is cut into pieces well below it. */
const MAX_FRAME = 1024 * 1024
/** Bytes of data per frame (before base64). */
const PIECE = 256 * 1024
/** Opening a session (dial, request, the host's answer) takes at most this. */
const OPEN_TIMEOUT_MS = 15_000

const SAFE_JOB = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/

export interface ExecRelay {
  /** Runs `request` inside job `job`, which runs on host `node` (not this one). */
  exec (node: string, job: string, request: ExecRequest): Promise<JobProcess>
  close (): Promise<void>
}

export interface ExecRelayOptions {
  mesh: Pick<Mesh, 'peerId' | 'libp2p'>
  /** Runs a request on this host (what a relayed session runs). */
  local: LocalExec
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

class FrameError extends Error {}

/** A dialer's first frame, checked field by field; throws a FrameError saying what is wrong. */
export function parseOpen (frame: Record<string, unknown>): { job: string, request: ExecRequest } {
  const open = frame.open
  if (!isObject(open)) throw new FrameError('expected {"open": {"job", "request"}} first')
  const { job, request: r } = open
  if (typeof job !== 'string' || !SAFE_JOB.test(job)) throw new FrameError('open.job: expected a job submission id')
  if (!isObject(r)) throw new FrameError('open.request: expected an object')
  const request: ExecRequest = {}
  if (r.command !== undefined) {
    if (typeof r.command !== 'string' || r.command.length > 256 * 1024) throw new FrameError('open.request.command: expected a string (at most 256 KiB)')
    request.command = r.command
  }
  if (r.subsystem !== undefined) {
    if (r.subsystem !== 'sftp') throw new FrameError('open.request.subsystem: only "sftp" is served')
    request.subsystem = 'sftp'
  }
  if (r.tty !== undefined) {
    const t = r.tty
    if (!isObject(t) || !dimension(t.cols) || !dimension(t.rows) || (t.term !== undefined && (typeof t.term !== 'string' || t.term.length > 64))) {
      throw new FrameError('open.request.tty: expected {cols, rows, term?} with sizes from 1 to 10000')
    }
    request.tty = { cols: t.cols as number, rows: t.rows as number, ...(t.term !== undefined ? { term: t.term as string } : {}) }
  }
  if (r.env !== undefined) {
    const e = r.env
    if (!isObject(e) || Object.keys(e).length > 256) throw new FrameError('open.request.env: expected an object of at most 256 variables')
    for (const [k, v] of Object.entries(e)) {
      if (!ENV_NAME.test(k) || typeof v !== 'string' || v.length > 64 * 1024) throw new FrameError(`open.request.env: ${JSON.stringify(k.slice(0, 64))} is not a variable name with a string value`)
    }
    request.env = e as Record<string, string>
  }
  return { job, request }
}

const dimension = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 10_000

function bytesOf (frame: Record<string, unknown>, key: string): Buffer {
  const v = frame[key]
  if (typeof v !== 'string') throw new FrameError(`${key}: expected base64 text`)
  return Buffer.from(v, 'base64')
}

/** Sends frames in order, waiting whenever the stream asks the writer to. */
function frameWriter (stream: Stream): (value: object) => Promise<void> {
  let tail = Promise.resolve()
  return value => {
    tail = tail.then(async () => {
      if (stream.writeStatus !== 'writable') throw new Error('the relay closed')
      stream.send(encodeFrame(value, MAX_FRAME))
      if (stream.writableNeedsDrain) await waitForDrain(stream)
    })
    return tail
  }
}

/** Sends a readable's bytes as frames of `key`, reading no faster than the stream takes them. */
async function pump (from: Readable, key: 'stdout' | 'stderr', send: (v: object) => Promise<void>): Promise<void> {
  for await (const chunk of from) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
    for (let i = 0; i < buf.length; i += PIECE) await send({ [key]: buf.subarray(i, i + PIECE).toString('base64') })
  }
}

function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
    p.then(v => { clearTimeout(t); resolve(v) }, e => { clearTimeout(t); reject(e) })
  })
}

export async function startExecRelay (opts: ExecRelayOptions): Promise<ExecRelay> {
  const { mesh } = opts
  const log = opts.log ?? (() => {})

  /** The host's side: one relayed session. */
  async function serve (stream: Stream, from: string): Promise<void> {
    const reader = new FrameReader(stream, MAX_FRAME)
    const send = frameWriter(stream)
    let proc: JobProcess | undefined
    try {
      const first = await withTimeout(reader.next(), OPEN_TIMEOUT_MS, 'the session request')
      if (first === null) return
      const { job, request } = parseOpen(first)
      try {
        proc = await opts.local(job, request)
      } catch (err) {
        await send({ error: (err as Error).message })
        await stream.close().catch(() => {})
        return
      }
      const p = proc
      p.stdin.on('error', () => {})
      await send({ ok: true })
      // Output first, then the exit: the dialer's streams end before its `exited` resolves.
      const outputs = Promise.all([pump(p.stdout, 'stdout', send), p.stderr ? pump(p.stderr, 'stderr', send) : undefined])
      const done = Promise.all([outputs, p.exited]).then(([, exit]) => send({ exit }))
      const input = (async () => {
        for (;;) {
          const f = await reader.next()
          if (f === null) { p.stdin.end(); return }
          if (typeof f.stdin === 'string') {
            if (!p.stdin.write(bytesOf(f, 'stdin'))) await new Promise<void>(resolve => { p.stdin.once('drain', resolve); p.stdin.once('close', resolve) })
          } else if (f.eof === true) p.stdin.end()
          else if (Array.isArray(f.resize) && dimension(f.resize[0]) && dimension(f.resize[1])) p.resize(f.resize[0] as number, f.resize[1] as number)
          else if (typeof f.signal === 'string' && /^[A-Z0-9]{1,16}$/.test(f.signal)) p.signal(f.signal)
          else throw new FrameError(`unexpected frame with keys ${Object.keys(f).slice(0, 5).join(', ') || '(none)'}`)
        }
      })()
      // A dialer that goes away ends the command (as a closed SSH channel does).
      input.catch(err => {
        log('exec relay: a bad or broken session from a peer', { peer: from, error: (err as Error).message })
        p.signal('HUP')
        stream.abort(err as Error)
      })
      await done
      await stream.close().catch(() => {})
    } catch (err) {
      if (err instanceof FrameError) {
        log('exec relay: a bad session request from a peer', { peer: from, error: err.message })
        await send({ error: `bad request: ${err.message}` }).catch(() => {})
        await stream.close().catch(() => {})
      } else {
        proc?.signal('HUP')
        stream.abort(err as Error)
      }
    } finally {
      reader.dispose()
    }
  }

  await mesh.libp2p.handle(EXEC_PROTOCOL, (stream: Stream, connection: { remotePeer: { toString (): string } }) => {
    void serve(stream, connection.remotePeer.toString()).catch(() => {})
  }, { maxInboundStreams: 1024, maxOutboundStreams: 1024, force: true })

  return {
    async exec (node, job, request) {
      let stream: Stream
      try {
        stream = await mesh.libp2p.dialProtocol(peerIdFromString(node), EXEC_PROTOCOL, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS), maxOutboundStreams: 1024 })
      } catch (err) {
        throw new Error(`the job runs on host ${node}, which did not answer (${(err as Error).message})`)
      }
      const reader = new FrameReader(stream, MAX_FRAME)
      const send = frameWriter(stream)
      let answer: Record<string, unknown> | null
      try {
        await send({ open: { job, request } })
        answer = await withTimeout(reader.next(), OPEN_TIMEOUT_MS, `host ${node}`)
      } catch (err) {
        reader.dispose()
        stream.abort(err as Error)
        throw new Error(`host ${node} did not relay: ${(err as Error).message}`)
      }
      if (answer?.ok !== true) {
        reader.dispose()
        stream.abort(new Error('refused'))
        throw new Error(typeof answer?.error === 'string' ? answer.error : `host ${node} refused the session`)
      }
      return dialerProcess(stream, reader, send)
    },
    async close () {
      await mesh.libp2p.unhandle(EXEC_PROTOCOL).catch(() => {})
    }
  }
}

/** The dialer's side of an open session, as the gateway sees a local one. */
function dialerProcess (stream: Stream, reader: FrameReader, send: (v: object) => Promise<void>): JobProcess {
  let wanted: (() => void) | undefined
  const more = () => { const w = wanted; wanted = undefined; w?.() }
  const stdout = new Readable({ read: more })
  const stderr = new Readable({ read: more })
  const failSend = (err: unknown) => { stream.abort(err as Error) }
  const stdin = new Writable({
    write (chunk: Buffer, _enc, done) {
      const pieces: Promise<void>[] = []
      for (let i = 0; i < chunk.length; i += PIECE) pieces.push(send({ stdin: chunk.subarray(i, i + PIECE).toString('base64') }))
      Promise.all(pieces).then(() => done(), err => done(err as Error))
    },
    final (done) { send({ eof: true }).then(() => done(), err => done(err as Error)) }
  })
  stdin.on('error', () => {})
  const exited = (async (): Promise<{ code: number | null, signal?: string }> => {
    try {
      for (;;) {
        const f = await reader.next()
        if (f === null) throw new Error('the host closed the session without an exit status')
        if (typeof f.stdout === 'string' || typeof f.stderr === 'string') {
          const to = typeof f.stdout === 'string' ? stdout : stderr
          if (!to.push(bytesOf(f, typeof f.stdout === 'string' ? 'stdout' : 'stderr'))) await new Promise<void>(resolve => { wanted = resolve })
        } else if (isObject(f.exit)) {
          const { code, signal } = f.exit
          await stream.close().catch(() => {})
          return { code: typeof code === 'number' ? code : null, ...(typeof signal === 'string' ? { signal } : {}) }
        } else throw new FrameError(`unexpected frame with keys ${Object.keys(f).slice(0, 5).join(', ') || '(none)'}`)
      }
    } catch (err) {
      stream.abort(err as Error)
      throw new Error(`the session was cut off: ${(err as Error).message}`)
    } finally {
      stdout.push(null)
      stderr.push(null)
      reader.dispose()
    }
  })()
  exited.catch(() => {})
  return {
    stdin,
    stdout,
    stderr,
    resize: (cols, rows) => { send({ resize: [cols, rows] }).catch(failSend) },
    signal: name => { send({ signal: name.replace(/^SIG/, '') }).catch(failSend) },
    exited
  }
}
