// The serving side of one RPC session over any Transport: authentication (where a token is
// asked for), requests multiplexed by id, server streams with cancel and back-pressure. A
// misbehaving caller ends its own session and nothing else: nothing it sends can throw out
// of this file.
import { createHash, timingSafeEqual } from 'node:crypto'
import { FrameDecoder, encodeFrame } from '../frames.ts'
import {
  MAX_FRAME_BYTES, PRE_AUTH_MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError, RPC_ERRORS, parseClientFrame,
  type ErrorBody, type RequestFrame, type ServerFrame
} from './protocol.ts'
import type { Transport } from './transport.ts'

export interface HandlerContext {
  /** Aborted when the caller cancels, the session closes or the server stops. */
  signal: AbortSignal
  /** Who asked (the transport's `peer`): `unix#3`, a peer id. */
  peer: string
  /** The method this call is for. */
  method: string
  /** What `authenticate` answered for this session's credentials; absent without it. */
  caller?: object
}

/**
 * A method's implementation. Returning (or resolving to) an AsyncIterable makes the answer a
 * stream: each item goes out as an `item` frame, then `end`. Throw an Error with a string
 * `code` (and optionally `details`) to answer with that code; any other error is `internal`.
 */
export type Handler = (params: any, ctx: HandlerContext) => unknown

/** Methods by name. Only own properties count (`toString` is not a method). */
export type Handlers = Record<string, Handler>

export interface SessionOptions {
  handlers: Handlers
  /**
   * The token a caller must present first; a function is asked at every handshake (rotation).
   * Absent: the transport authenticated the caller already (libp2p's private network).
   */
  token?: string | (() => string)
  /**
   * Instead of `token`: who the credentials of the `auth` frame are, or undefined to refuse
   * them. What it returns reaches every handler of the session as `ctx.caller`.
   */
  authenticate?: (credentials: { token: string, project?: string }) => object | undefined
  /** Sent to the caller in the `auth` answer, next to `protocol`. */
  info?: object
  /** How long the caller may take to authenticate. Default 10 s. */
  authTimeoutMs?: number
  /** Aborts every call in flight and closes the session (the server stops). */
  signal?: AbortSignal
  /** Structured events: protocol errors, failed handshakes, handler failures. Never the token. */
  log?: (event: Record<string, unknown>) => void
}

export interface Session {
  /** Closes at once, aborting every handler; resolves when the transport is closed. */
  close (): Promise<void>
  /** Resolves when the transport has closed, for whatever reason. */
  readonly closed: Promise<void>
}

/** Requests one session may have in flight at once (streams included). */
const MAX_IN_FLIGHT = 4096
/** How long a closing session may take to read its final error frame. */
const CLOSE_GRACE_MS = 2000
/** A streaming handler that never waits gives the event loop a turn this often. */
const YIELD_EVERY_MS = 10

interface InFlight {
  controller: AbortController
  iterator?: AsyncIterator<unknown>
}

export function serveSession (transport: Transport, opts: SessionOptions): Session {
  const log = opts.log ?? (() => {})
  const peer = transport.peer
  const asksToken = opts.token !== undefined || opts.authenticate !== undefined
  let caller: object | undefined
  // A stranger gets a small limit until its token is accepted (Harden: no 16 MiB frame is
  // ever buffered for someone unauthenticated).
  const decoder = new FrameDecoder({ maxFrameBytes: asksToken ? PRE_AUTH_MAX_FRAME_BYTES : MAX_FRAME_BYTES })
  const inFlight = new Map<number, InFlight>()
  let authenticated = !asksToken
  let closing = false
  let paused = false
  /** A write found the transport full: stop reading requests until it drains. */
  let behind = false
  let onClosed!: () => void
  const closed = new Promise<void>(resolve => { onClosed = resolve })

  let authTimer: NodeJS.Timeout | undefined
  if (asksToken) {
    const ms = opts.authTimeoutMs ?? 10_000
    authTimer = setTimeout(() => { if (!authenticated) fail({ code: RPC_ERRORS.unauthenticated, message: `no authentication within ${ms} ms` }) }, ms)
    authTimer.unref()
  }
  const onStop = (): void => { void close() }
  opts.signal?.addEventListener('abort', onStop, { once: true })

  transport.start({
    data: chunk => onData(chunk),
    end: () => {
      if (closing) return
      if (!decoder.idle) {
        try { decoder.finish() } catch (err) { fail({ code: RPC_ERRORS.badFrame, message: (err as Error).message }); return }
      }
      // A caller that closes its side is gone: what it asked for is abandoned.
      closing = true
      cleanUp()
      transport.end()
    },
    close: () => { cleanUp(); onClosed() }
  })
  if (opts.signal?.aborted === true) onStop()

  function onData (chunk: Uint8Array): void {
    if (closing) return
    try {
      decoder.feed(chunk, value => {
        if (closing) return
        onFrame(value)
      })
    } catch (err) {
      const e = err as Error & { code?: string }
      fail({ code: err instanceof ProtocolError ? e.code! : RPC_ERRORS.internal, message: e.message })
      return
    }
    if (!behind || paused || closing) return
    // A caller that sends faster than it reads answers stops being read until it catches up.
    paused = true
    transport.pause()
    void transport.drained().then(() => { paused = false; behind = false; if (!closing) transport.resume() })
  }

  // Frames are handled as the decoder yields them, so an accepted auth raises the limit for
  // the frame right behind it in the same chunk.
  function onFrame (value: Record<string, unknown>): void {
    const frame = parseClientFrame(value)
    if (!authenticated) {
      if (frame.type !== 'auth') throw new ProtocolError(RPC_ERRORS.unauthenticated, `"${frame.type}" before authentication: the first frame must be {"type":"auth","token":...}`)
      caller = opts.authenticate === undefined ? undefined : whoIs(opts.authenticate, frame)
      if (opts.authenticate === undefined ? tokenMatches(frame.token, opts.token!) : caller !== undefined) {
        authenticated = true
        clearTimeout(authTimer)
        decoder.maxFrameBytes = MAX_FRAME_BYTES
        send({ type: 'auth', ok: true, server: { ...(opts.info ?? {}), protocol: PROTOCOL_VERSION } })
      } else {
        log({ event: 'auth_failed', peer })
        end({ type: 'auth', ok: false, error: { code: RPC_ERRORS.unauthenticated, message: 'invalid token' } })
      }
      return
    }
    switch (frame.type) {
      case 'auth':
        throw new ProtocolError(RPC_ERRORS.badFrame, asksToken ? 'already authenticated: a second "auth" frame is not allowed' : 'this session needs no "auth" frame')
      case 'cancel':
        cancel(frame.id)
        return
      case 'req':
        if (inFlight.has(frame.id)) throw new ProtocolError(RPC_ERRORS.badFrame, `request id ${frame.id} is already in flight`)
        begin(frame)
    }
  }

  function begin (frame: RequestFrame): void {
    const { id, method } = frame
    const handler = Object.hasOwn(opts.handlers, method) ? opts.handlers[method] : undefined
    if (handler === undefined) {
      send({ type: 'res', id, error: { code: RPC_ERRORS.unknownMethod, message: `unknown method "${method.slice(0, 200)}"` } })
      return
    }
    if (inFlight.size >= MAX_IN_FLIGHT) {
      send({ type: 'res', id, error: { code: RPC_ERRORS.tooManyRequests, message: `more than ${MAX_IN_FLIGHT} requests in flight on one session` } })
      return
    }
    const entry: InFlight = { controller: new AbortController() }
    inFlight.set(id, entry)
    void run(id, method, handler, frame.params, entry)
  }

  async function run (id: number, method: string, handler: Handler, params: unknown, entry: InFlight): Promise<void> {
    const { signal } = entry.controller
    try {
      let result: unknown = handler(params, caller === undefined ? { signal, peer, method } : { signal, peer, method, caller })
      if (isPromiseLike(result)) result = await result
      if (signal.aborted) return
      if (isAsyncIterable(result)) {
        await pump(id, method, result, entry)
        return
      }
      answer(id, method, { type: 'res', id, result: result === undefined ? null : result })
    } catch (err) {
      if (signal.aborted) return
      answer(id, method, { type: 'res', id, error: errorOf(err, method) })
    } finally {
      // After a cancel the id may already belong to a new request.
      if (inFlight.get(id) === entry) inFlight.delete(id)
    }
  }

  async function pump (id: number, method: string, iterable: AsyncIterable<unknown>, entry: InFlight): Promise<void> {
    const { signal } = entry.controller
    const iterator = iterable[Symbol.asyncIterator]()
    entry.iterator = iterator
    try {
      let since = performance.now()
      for (;;) {
        const step = await iterator.next()
        if (signal.aborted) return
        if (step.done === true) break
        let bytes: Uint8Array
        try {
          bytes = encodeFrame({ type: 'item', id, data: step.value === undefined ? null : step.value }, MAX_FRAME_BYTES)
        } catch (err) {
          answer(id, method, { type: 'res', id, error: unencodable(err, 'stream item') })
          returnQuietly(iterator)
          return
        }
        if (!write(bytes)) await transport.drained()
        if (closing || signal.aborted) return
        // A generator that never waits, on a transport with room, would otherwise hold the
        // event loop (timers, other sessions, pings) until it is done.
        if (performance.now() - since > YIELD_EVERY_MS) {
          await new Promise(resolve => setImmediate(resolve))
          since = performance.now()
        }
      }
      send({ type: 'end', id })
    } catch (err) {
      if (signal.aborted) return
      answer(id, method, { type: 'res', id, error: errorOf(err, method) })
    }
  }

  function cancel (id: number): void {
    const entry = inFlight.get(id)
    // A cancel may cross the answer on the wire: an unknown id is not an error.
    if (entry === undefined) return
    inFlight.delete(id)
    entry.controller.abort(new Error('cancelled by the caller'))
    returnQuietly(entry.iterator)
  }

  function cleanUp (): void {
    clearTimeout(authTimer)
    opts.signal?.removeEventListener('abort', onStop)
    for (const [, entry] of inFlight) {
      entry.controller.abort(new Error('the session closed'))
      returnQuietly(entry.iterator)
    }
    inFlight.clear()
  }

  function errorOf (err: unknown, method: string): ErrorBody {
    const coded = err as Error & { code?: unknown, details?: unknown }
    if (err instanceof Error && typeof coded.code === 'string' && coded.code !== '') {
      const body: ErrorBody = { code: coded.code, message: err.message }
      if (coded.details !== undefined) body.details = coded.details
      return body
    }
    const message = err instanceof Error ? err.message : String(err)
    log({ event: 'handler_error', peer, method, error: message, stack: err instanceof Error ? err.stack : undefined })
    return { code: RPC_ERRORS.internal, message }
  }

  /** A final answer to a request: if it cannot be encoded (too big, not JSON), says so instead. */
  function answer (id: number, method: string, frame: ServerFrame): void {
    if (closing) return
    let bytes: Uint8Array
    try {
      bytes = encodeFrame(frame, MAX_FRAME_BYTES)
    } catch (err) {
      if ('error' in frame) {
        // An error whose details cannot be sent: send it without them.
        const { code, message } = (frame as { error: ErrorBody }).error
        bytes = encodeFrame({ type: 'res', id, error: { code, message: message.slice(0, 4096) } }, MAX_FRAME_BYTES)
      } else {
        log({ event: 'handler_error', peer, method, error: `result not sendable: ${(err as Error).message}` })
        bytes = encodeFrame({ type: 'res', id, error: unencodable(err, 'result') }, MAX_FRAME_BYTES)
      }
    }
    write(bytes)
  }

  function send (frame: ServerFrame): void {
    if (!closing) write(encodeFrame(frame, MAX_FRAME_BYTES))
  }

  function write (bytes: Uint8Array): boolean {
    if (closing) return true
    if (transport.write(bytes)) return true
    behind = true
    return false
  }

  /** Ends this session because of what the caller sent, telling it why when it still listens. */
  function fail (error: ErrorBody): void {
    log({ event: 'protocol_error', peer, code: error.code, message: error.message })
    end({ type: 'error', error })
  }

  function end (last: ServerFrame): void {
    if (closing) return
    transport.write(encodeFrame(last, MAX_FRAME_BYTES))
    closing = true
    cleanUp()
    transport.end()
    setTimeout(() => transport.destroy(), CLOSE_GRACE_MS).unref()
  }

  function close (): Promise<void> {
    closing = true
    cleanUp()
    transport.destroy()
    return closed
  }

  return { close, closed }
}

/** The caller `authenticate` names; one that throws refuses the credentials. */
function whoIs (authenticate: NonNullable<SessionOptions['authenticate']>, frame: { token: string, project?: string }): object | undefined {
  try {
    return authenticate(frame.project === undefined ? { token: frame.token } : { token: frame.token, project: frame.project })
  } catch {
    return undefined
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
  if (err instanceof ProtocolError) return { code: RPC_ERRORS.frameTooLarge, message: `${what} too large to send: ${err.message}` }
  return { code: RPC_ERRORS.internal, message: `${what} cannot be sent as JSON: ${(err as Error).message}` }
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

export function isAsyncIterable (v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}
