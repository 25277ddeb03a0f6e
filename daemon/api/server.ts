// The daemon's side of the client protocol (protocol.ts) on a Unix socket: authentication,
// requests multiplexed by id, streams with cancel and back-pressure. A misbehaving
// connection is closed on its own; nothing a peer sends can throw out of this file or
// disturb another connection.
import { createHash, timingSafeEqual } from 'node:crypto'
import { chmod, lstat, unlink } from 'node:fs/promises'
import net from 'node:net'
import {
  DEFAULT_MAX_FRAME_BYTES, ERROR_CODES, FrameDecoder, PROTOCOL_VERSION, ProtocolError, encodeFrame, parseClientFrame,
  type ErrorBody, type RequestFrame, type ServerFrame
} from './protocol.ts'
import { CodedError } from '../../mesh/errors.ts'

export interface HandlerContext {
  /** Aborted when the client cancels the request or the connection closes. */
  signal: AbortSignal
  /** Which connection asked, for logs: `unix#3`. */
  peer: string
}

/**
 * A method. Returning (or resolving to) an AsyncIterable makes the request a stream: each item
 * goes out as an `item` frame, then `end`. Throw an Error with a string `code` (and optionally
 * `details`) to answer with that code; any other error is answered as `internal`.
 */
export type Handler = (params: unknown, ctx: HandlerContext) => Promise<unknown> | AsyncIterable<unknown>

export interface ApiServerOptions {
  /** Where to listen, usually `DIR/api.sock`. Created with mode 0600. */
  socketPath: string
  /** The token a client must present; a function is asked at every handshake (rotation). */
  token: string | (() => string)
  handlers: Record<string, Handler>
  /** Sent to the client in the `auth` answer, next to `protocol`. */
  info?: object
  /** The largest frame accepted from or sent to a client. Default 16 MiB. */
  maxFrameBytes?: number
  /** How long a new connection may take to authenticate. Default 10 s. */
  authTimeoutMs?: number
  /** Structured events: protocol errors, failed handshakes, handler failures. Never the token. */
  log?: (event: object) => void
}

export interface ApiServer {
  /** Stops listening, closes every connection (aborting their handlers) and removes the socket file. */
  close (): Promise<void>
  /** Open connections, authenticated or not. */
  connections (): number
}

/** An error with a code, for handlers to throw. */
export class ApiHandlerError extends CodedError {
  override name = 'ApiHandlerError'
}

/** How much a connection may have queued for writing before reading from it pauses. */
const WRITE_HIGH_WATER = 1024 * 1024
/** Requests one connection may have in flight at once (streams included). */
const MAX_IN_FLIGHT = 4096
/** How long a closing connection may take to read its final error frame. */
const CLOSE_GRACE_MS = 2000

export async function createApiServer (opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? (() => {})
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const authTimeoutMs = opts.authTimeoutMs ?? 10_000
  const info = { ...(opts.info ?? {}), protocol: PROTOCOL_VERSION }
  const handlers = new Map(Object.entries(opts.handlers))
  const live = new Set<Connection>()
  let nextConnection = 1

  await removeStaleSocket(opts.socketPath)

  const server = net.createServer(socket => {
    try {
      const connection = new Connection(socket, `unix#${nextConnection++}`, {
        maxFrameBytes, authTimeoutMs, info, handlers, log, token: opts.token
      })
      live.add(connection)
      socket.once('close', () => live.delete(connection))
    } catch (err) {
      log({ event: 'connection_error', error: String(err) })
      socket.destroy()
    }
  })
  server.on('error', err => log({ event: 'server_error', error: err.message }))

  await listenPrivately(server, opts.socketPath)

  let closing: Promise<void> | undefined
  return {
    connections: () => live.size,
    close () {
      closing ??= (async () => {
        const stopped = new Promise<void>(resolve => server.close(() => resolve()))
        await Promise.all([...live].map(c => c.destroy()))
        await stopped
        await unlink(opts.socketPath).catch(() => {})
      })()
      return closing
    }
  }
}

/** Listens with a umask that makes the socket file 0600 from its first moment, then makes sure. */
async function listenPrivately (server: net.Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${socketPath}: ${err.message}`))
    server.once('error', onError)
    let previous: number | undefined
    try { previous = process.umask(0o177) } catch { /* worker threads cannot set the umask */ }
    try {
      server.listen(socketPath, () => {
        server.off('error', onError)
        resolve()
      })
    } finally {
      if (previous !== undefined) process.umask(previous)
    }
  })
  await chmod(socketPath, 0o600)
}

/**
 * A socket file left by a daemon that died is removed; one that a live daemon answers on is
 * not (that is a second daemon on the same DIR), and neither is a path that is not a socket.
 */
async function removeStaleSocket (socketPath: string): Promise<void> {
  let stat
  try {
    stat = await lstat(socketPath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; not touching it`)
  const answer = await new Promise<'live' | string>(resolve => {
    const probe = net.connect(socketPath)
    // A daemon too busy to accept in time is still alive: keep its socket.
    const timer = setTimeout(() => { probe.destroy(); resolve('live') }, 2000)
    probe.once('connect', () => { clearTimeout(timer); probe.destroy(); resolve('live') })
    probe.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? err.message) })
  })
  if (answer === 'live') throw new Error(`another dstackd is already serving ${socketPath}`)
  if (answer === 'ENOENT') return
  if (answer !== 'ECONNREFUSED') throw new Error(`cannot tell whether a daemon serves ${socketPath} (${answer}); not removing it`)
  await unlink(socketPath).catch(err => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  })
}

interface ConnectionOptions {
  maxFrameBytes: number
  authTimeoutMs: number
  info: Record<string, unknown>
  handlers: Map<string, Handler>
  log: (event: object) => void
  token: string | (() => string)
}

interface InFlight {
  controller: AbortController
  iterator?: AsyncIterator<unknown>
}

class Connection {
  private readonly decoder: FrameDecoder
  private authenticated = false
  private closing = false
  private readonly inFlight = new Map<number, InFlight>()
  private drained: Promise<void> | undefined
  private authTimer: NodeJS.Timeout | undefined

  constructor (private readonly socket: net.Socket, readonly peer: string, private readonly opts: ConnectionOptions) {
    this.decoder = new FrameDecoder({ maxFrameBytes: opts.maxFrameBytes })
    socket.on('data', chunk => this.onData(chunk))
    socket.on('error', err => {
      // EPIPE / ECONNRESET from a peer that left: nothing to do but let 'close' clean up.
      if (!this.closing) opts.log({ event: 'socket_error', peer, error: err.message })
    })
    socket.on('end', () => {
      if (!this.decoder.idle) opts.log({ event: 'protocol_error', peer, code: ERROR_CODES.badFrame, message: `connection ended inside a frame (${this.decoder.buffered} bytes buffered)` })
    })
    socket.on('close', () => this.cleanUp())
    socket.on('drain', () => { if (socket.isPaused()) socket.resume() })
    this.authTimer = setTimeout(() => {
      if (!this.authenticated) this.fail({ code: ERROR_CODES.unauthenticated, message: `no authentication within ${opts.authTimeoutMs} ms` })
    }, opts.authTimeoutMs)
    this.authTimer.unref()
  }

  /** Closes at once, aborting every handler before it returns; resolves when the socket is closed. */
  destroy (): Promise<void> {
    const closed = this.socket.closed ? Promise.resolve() : new Promise<void>(resolve => this.socket.once('close', () => resolve()))
    this.cleanUp()
    this.socket.destroy()
    return closed
  }

  private onData (chunk: Buffer): void {
    if (this.closing) return
    let values: unknown[]
    try {
      values = this.decoder.push(chunk)
    } catch (err) {
      const e = err as ProtocolError
      this.fail({ code: e.code ?? ERROR_CODES.badFrame, message: e.message })
      return
    }
    for (const value of values) {
      if (this.closing) return
      try {
        this.onFrame(value)
      } catch (err) {
        const e = err as ProtocolError
        this.fail({ code: e instanceof ProtocolError ? e.code : ERROR_CODES.internal, message: e.message })
        return
      }
    }
    // A client that sends faster than it reads answers stops being read until it catches up.
    if (this.socket.writableLength > WRITE_HIGH_WATER && !this.closing) this.socket.pause()
  }

  private onFrame (value: unknown): void {
    const frame = parseClientFrame(value)
    if (!this.authenticated) {
      if (frame.type !== 'auth') {
        this.fail({ code: ERROR_CODES.unauthenticated, message: `"${frame.type}" before authentication: the first frame must be {"type":"auth","token":...}` })
        return
      }
      if (tokenMatches(frame.token, this.opts.token)) {
        this.authenticated = true
        clearTimeout(this.authTimer)
        this.send({ type: 'auth', ok: true, server: this.opts.info })
      } else {
        this.opts.log({ event: 'auth_failed', peer: this.peer })
        this.close({ type: 'auth', ok: false, error: { code: ERROR_CODES.unauthenticated, message: 'invalid token' } })
      }
      return
    }
    switch (frame.type) {
      case 'auth':
        throw new ProtocolError(ERROR_CODES.badFrame, 'already authenticated: a second "auth" frame is not allowed')
      case 'cancel':
        this.cancel(frame.id)
        return
      case 'req':
        if (this.inFlight.has(frame.id)) throw new ProtocolError(ERROR_CODES.badFrame, `request id ${frame.id} is already in flight`)
        this.start(frame)
    }
  }

  private start (frame: RequestFrame): void {
    const { id, method } = frame
    const handler = this.opts.handlers.get(method)
    if (handler === undefined) {
      this.send({ type: 'res', id, error: { code: ERROR_CODES.unknownMethod, message: `unknown method "${method}"` } })
      return
    }
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.send({ type: 'res', id, error: { code: 'too_many_requests', message: `more than ${MAX_IN_FLIGHT} requests in flight on one connection` } })
      return
    }
    const entry: InFlight = { controller: new AbortController() }
    this.inFlight.set(id, entry)
    void this.run(id, method, handler, frame.params, entry)
  }

  private async run (id: number, method: string, handler: Handler, params: unknown, entry: InFlight): Promise<void> {
    const { signal } = entry.controller
    try {
      let result: unknown = handler(params, { signal, peer: this.peer })
      if (isPromiseLike(result)) result = await result
      if (signal.aborted) return
      if (isAsyncIterable(result)) {
        await this.pump(id, method, result, entry)
        return
      }
      this.sendAnswer(id, method, { type: 'res', id, result: result === undefined ? null : result })
    } catch (err) {
      if (signal.aborted) return
      this.sendAnswer(id, method, { type: 'res', id, error: this.errorOf(err, method) })
    } finally {
      // After a cancel the id may already belong to a new request.
      if (this.inFlight.get(id) === entry) this.inFlight.delete(id)
    }
  }

  private async pump (id: number, method: string, iterable: AsyncIterable<unknown>, entry: InFlight): Promise<void> {
    const { signal } = entry.controller
    const iterator = iterable[Symbol.asyncIterator]()
    entry.iterator = iterator
    try {
      for (;;) {
        const step = await iterator.next()
        if (signal.aborted) return
        if (step.done === true) break
        let frame: Buffer
        try {
          frame = encodeFrame({ type: 'item', id, data: step.value === undefined ? null : step.value }, this.opts.maxFrameBytes)
        } catch (err) {
          this.sendAnswer(id, method, { type: 'res', id, error: unencodable(err, 'stream item') })
          returnQuietly(iterator)
          return
        }
        if (!this.write(frame)) await this.whenDrained()
        if (this.closing || signal.aborted) return
      }
      this.send({ type: 'end', id })
    } catch (err) {
      if (signal.aborted) return
      this.sendAnswer(id, method, { type: 'res', id, error: this.errorOf(err, method) })
    }
  }

  private cancel (id: number): void {
    const entry = this.inFlight.get(id)
    // A cancel may cross the answer on the wire: an unknown id is not an error.
    if (entry === undefined) return
    this.inFlight.delete(id)
    entry.controller.abort(new Error('cancelled by the client'))
    returnQuietly(entry.iterator)
  }

  private cleanUp (): void {
    this.closing = true
    clearTimeout(this.authTimer)
    for (const [, entry] of this.inFlight) {
      entry.controller.abort(new Error('connection closed'))
      returnQuietly(entry.iterator)
    }
    this.inFlight.clear()
  }

  private errorOf (err: unknown, method: string): ErrorBody {
    const coded = err as Error & { code?: unknown, details?: unknown }
    if (err instanceof Error && typeof coded.code === 'string' && coded.code !== '') {
      const body: ErrorBody = { code: coded.code, message: err.message }
      const details = coded.details
      if (details !== undefined) body.details = details
      return body
    }
    const message = err instanceof Error ? err.message : String(err)
    this.opts.log({ event: 'handler_error', peer: this.peer, method, error: message, stack: err instanceof Error ? err.stack : undefined })
    return { code: ERROR_CODES.internal, message }
  }

  /** A final answer to a request: if it cannot be encoded (too big, not JSON), says so instead. */
  private sendAnswer (id: number, method: string, frame: ServerFrame): void {
    if (this.closing) return
    let bytes: Buffer
    try {
      bytes = encodeFrame(frame, this.opts.maxFrameBytes)
    } catch (err) {
      if ('error' in frame) {
        // An error whose details cannot be sent: send it without them.
        const { code, message } = (frame as { error: ErrorBody }).error
        bytes = encodeFrame({ type: 'res', id, error: { code, message: message.slice(0, 4096) } })
      } else {
        this.opts.log({ event: 'handler_error', peer: this.peer, method, error: `result not sendable: ${(err as Error).message}` })
        bytes = encodeFrame({ type: 'res', id, error: unencodable(err, 'result') })
      }
    }
    this.write(bytes)
  }

  private send (frame: ServerFrame): void {
    if (this.closing) return
    this.write(encodeFrame(frame))
  }

  private write (bytes: Buffer): boolean {
    if (this.closing || this.socket.destroyed) return true
    return this.socket.write(bytes)
  }

  private whenDrained (): Promise<void> {
    this.drained ??= new Promise<void>(resolve => {
      const done = (): void => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        this.drained = undefined
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
    return this.drained
  }

  /** Closes this connection because of what it sent, telling it why when it still listens. */
  private fail (error: ErrorBody): void {
    this.opts.log({ event: 'protocol_error', peer: this.peer, code: error.code, message: error.message })
    this.close({ type: 'error', error })
  }

  private close (last: ServerFrame): void {
    if (this.closing) return
    this.closing = true
    this.cleanUp()
    try {
      this.socket.end(encodeFrame(last))
    } catch {
      this.socket.destroy()
      return
    }
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref()
  }
}

function tokenMatches (given: string, expected: string | (() => string)): boolean {
  let want: string
  try {
    want = typeof expected === 'function' ? expected() : expected
  } catch {
    return false
  }
  // An empty expected token means "not configured", never "anyone".
  if (typeof want !== 'string' || want === '') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(want).digest()
  return timingSafeEqual(a, b)
}

function unencodable (err: unknown, what: string): ErrorBody {
  if (err instanceof ProtocolError) return { code: ERROR_CODES.frameTooLarge, message: `${what} too large to send: ${err.message}` }
  return { code: ERROR_CODES.internal, message: `${what} cannot be sent as JSON: ${(err as Error).message}` }
}

function returnQuietly (iterator: AsyncIterator<unknown> | undefined): void {
  if (iterator?.return === undefined) return
  try {
    Promise.resolve(iterator.return()).catch(() => {})
  } catch { /* a throwing return() is the handler's business */ }
}

function isPromiseLike (v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
}

function isAsyncIterable (v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}
