// RPC over libp2p streams: one stream per call, length-prefixed JSON frames.
//
// A frame is a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON: the codec
// in frames.ts, shared with the client protocol on the Unix socket. A call:
//
//   caller → handler   { "body": <request> }                then the caller closes its write side
//   handler → caller   { "t": "ok", "body": <answer> }       a request/response handler, or
//                      { "t": "item", "body": <item> } …    a streaming handler, any number of
//                      { "t": "end" }                        items, then end
//                      { "t": "err", "error": { "code", "message" } }   instead, at any point
//
// Whatever arrives on the stream — garbage, a length past the limit, a frame that ends early, a
// handler that throws — ends that one stream with an `err` frame and never the node.
import type { Stream } from '@libp2p/interface'
import { FRAME_ERRORS, FRAME_HEADER_BYTES, FrameDecoder, ProtocolError, encodeFrame as encodeBytes, isObject } from './frames.ts'
import { linkedSignal } from './signals.ts'
import { CodedError } from './errors.ts'

/** The largest frame either side accepts unless configured otherwise: 4 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
/** How long a handler waits for the request frame on a new stream. */
export const REQUEST_FRAME_TIMEOUT_MS = 30_000

/** Codes this layer produces; handlers add their own (any error with a string `code`). */
export const RPC_ERRORS = {
  /** The bytes on the stream were not a frame of the expected shape. */
  badFrame: FRAME_ERRORS.badFrame,
  /** A frame declared more bytes than the receiver accepts. */
  frameTooLarge: FRAME_ERRORS.frameTooLarge,
  /** The remote node has no handler for the protocol. */
  noHandler: 'no_handler',
  /** A handler failed with an error that carried no code of its own. */
  internal: 'internal',
  /** The peer could not be reached (dial failed). */
  unreachable: 'unreachable',
  /** The stream ended before the answer was complete. */
  connectionClosed: 'connection_closed',
  /** The caller's signal fired. */
  cancelled: 'cancelled',
  /** No answer within the timeout. */
  timeout: 'timeout',
  /** `request()` reached a streaming handler (use `stream()`). */
  isStream: 'is_stream',
  /** The peer id given is not a peer id. */
  badPeerId: 'bad_peer_id',
  /** The mesh was stopped. */
  stopped: 'stopped'
} as const

/** An RPC that failed. `remote` is true when the error came from the other node's handler. */
export class MeshRpcError extends CodedError {
  override name = 'MeshRpcError'
  readonly remote: boolean
  constructor (code: string, message: string, remote = false) {
    super(code, message)
    this.remote = remote
  }
}

/** What a handler knows about the call it serves. */
export interface RpcContext {
  /** The caller's peer id. */
  peerId: string
  /** The protocol the call came in on. */
  protocol: string
  /** Aborted when the caller goes away (the stream closes) or the mesh stops. */
  signal: AbortSignal
}

/**
 * Serves one protocol. Return (or resolve) a JSON value for request/response; return an
 * AsyncIterable (an `async function *`) to stream items, which `stream()` on the caller yields
 * in order. Throw an error with a string `code` (e.g. a MeshRpcError) to send that code.
 */
export type RpcHandler = (body: any, ctx: RpcContext) => unknown

export interface RequestOptions {
  /** Cancels the call (the caller gets a `cancelled` error). */
  signal?: AbortSignal
  /**
   * For `request()`: the whole call, dial included. For `stream()`: opening the stream and
   * sending the request only; end a long stream with `signal` or by leaving the loop.
   * Default: the mesh's `requestTimeoutMs`.
   */
  timeoutMs?: number
}

/** A codec failure (frames.ts) as the MeshRpcError this layer reports; anything else as it is. */
function meshError (err: unknown): unknown {
  return err instanceof ProtocolError ? new MeshRpcError(err.code, err.message) : err
}

/** frames.ts's `encodeFrame`, failing with a MeshRpcError (`frame_too_large`) or a TypeError. */
export function encodeFrame (value: unknown, maxFrameBytes: number): Uint8Array {
  try {
    return encodeBytes(value, maxFrameBytes)
  } catch (err) {
    throw meshError(err)
  }
}

/**
 * Reads frames off a stream. `next()` gives the next frame's JSON object, or null at a clean end.
 * Bytes are decoded as they arrive (frames.ts), so a declared length over the limit fails at the
 * header. When more than a frame's worth of bytes waits unread, the stream is paused (yamux stops
 * granting the sender window), so a slow reader holds back a fast writer instead of buffering.
 */
export class FrameReader {
  private readonly decoder: FrameDecoder
  /** Decoded frames not yet taken by `next()`, with the bytes each took on the wire. */
  private frames: Array<{ value: Record<string, unknown>, bytes: number }> = []
  /** Bytes of `frames`. */
  private queued = 0
  private ended = false
  private paused = false
  /** A bad frame: reported after the frames before it. */
  private decodeError: MeshRpcError | undefined
  /** The stream was reset. */
  private error: Error | undefined
  private wake: (() => void) | undefined
  private readonly highWater: number
  private readonly onMessage = (evt: { data: Uint8Array | { subarray: () => Uint8Array } }): void => {
    const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
    if (data.byteLength === 0 || this.decodeError !== undefined) return
    try {
      this.decoder.feed(data, (value, bytes) => {
        this.frames.push({ value, bytes })
        this.queued += bytes
      })
    } catch (err) {
      this.decodeError = meshError(err) as MeshRpcError
    }
    if (!this.paused && this.queued + this.decoder.buffered > this.highWater && this.stream.readStatus === 'readable') {
      try { this.stream.pause(); this.paused = true } catch {}
    }
    this.poke()
  }

  private readonly onEnd = (): void => { this.ended = true; this.poke() }
  private readonly onClose = (evt: Event): void => {
    const err = (evt as Event & { error?: Error }).error
    if (err != null) {
      if (this.error === undefined) this.error = err
      this.ended = true
    } else if (this.stream.readBufferLength === 0) {
      // A clean close with bytes still held by a paused stream ends with 'end' once they are read.
      this.ended = true
    }
    this.poke()
  }

  constructor (private readonly stream: Stream, maxFrameBytes: number) {
    this.decoder = new FrameDecoder({ maxFrameBytes })
    // Past this many unread bytes a complete frame is always buffered, so pausing cannot stall.
    this.highWater = maxFrameBytes + FRAME_HEADER_BYTES + 64 * 1024
    stream.addEventListener('message', this.onMessage as any)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.readableEnded || (stream.status !== 'open' && stream.readBufferLength === 0)) this.ended = true
  }

  private maybeResume (): void {
    if (this.paused && this.queued + this.decoder.buffered <= this.highWater / 2) {
      this.paused = false
      try { this.stream.resume() } catch {}
    }
  }

  private poke (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async next (signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    while (true) {
      const frame = this.frames.shift()
      if (frame !== undefined) {
        this.queued -= frame.bytes
        this.maybeResume()
        return frame.value
      }
      if (this.decodeError !== undefined) throw this.decodeError
      if (this.ended) {
        if (this.error !== undefined) throw new MeshRpcError(RPC_ERRORS.connectionClosed, `the stream was reset (${this.error.message})`)
        try {
          this.decoder.finish()
        } catch (err) {
          throw meshError(err)
        }
        return null
      }
      signal?.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { this.wake = undefined; reject(signal!.reason) }
        this.wake = () => { signal?.removeEventListener('abort', onAbort); resolve() }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  dispose (): void {
    this.stream.removeEventListener('message', this.onMessage as any)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    this.frames = []
    this.queued = 0
  }
}

/**
 * Waits until the stream can take more data. Not `stream.onDrain()`: in @libp2p/utils 7.4 its
 * promise is never reset after the first drain, so every later call resolves at once and a
 * writer that relies on it buffers without bound.
 */
export async function waitForDrain (stream: Stream, signal?: AbortSignal): Promise<void> {
  while (stream.writableNeedsDrain) {
    if (stream.writeStatus !== 'writable' && stream.writeStatus !== 'closing') throw new Error(`the stream is ${stream.writeStatus}`)
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanup(); resolve() }
      const onClose = (evt: Event): void => { cleanup(); reject((evt as Event & { error?: Error }).error ?? new Error('the stream closed')) }
      const onAbort = (): void => { cleanup(); reject(signal!.reason) }
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    // The stream resumes sending in a microtask queued by the same event; let it run, then look
    // again (a connection-level drain does not mean this stream's window has room).
    await Promise.resolve()
    await Promise.resolve()
  }
}

export async function writeFrame (stream: Stream, value: unknown, maxFrameBytes: number, signal?: AbortSignal): Promise<void> {
  const bytes = encodeFrame(value, maxFrameBytes)
  if (!stream.send(bytes)) await waitForDrain(stream, signal)
}

function isAsyncIterable (v: unknown): v is AsyncIterable<unknown> {
  return v != null && typeof (v as any)[Symbol.asyncIterator] === 'function'
}

/** The code and message to send for an error thrown by a handler. */
export function errorBody (err: unknown): { code: string, message: string } {
  const code = typeof (err as any)?.code === 'string' && (err as any).code !== '' ? (err as any).code as string : RPC_ERRORS.internal
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'the handler failed'
  return { code, message: message.slice(0, 4096) }
}

export type ServerFrame =
  | { t: 'ok', body: unknown }
  | { t: 'item', body: unknown }
  | { t: 'end' }
  | { t: 'err', error: { code: string, message: string } }

/** Checks a frame's object (from FrameReader) against the answers a handler may send. */
export function parseServerFrame (v: Record<string, unknown>): ServerFrame {
  switch (v.t) {
    case 'ok': case 'item': return { t: v.t, body: v.body }
    case 'end': return { t: 'end' }
    case 'err': {
      const e = v.error
      if (!isObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string') throw new MeshRpcError(RPC_ERRORS.badFrame, 'an error frame has no code and message')
      return { t: 'err', error: { code: e.code, message: e.message } }
    }
    default: throw new MeshRpcError(RPC_ERRORS.badFrame, `an answer frame has unknown type ${JSON.stringify(v.t) ?? 'undefined'}`)
  }
}

/** Checks a frame's object (from FrameReader) against the request frame; gives its body. */
export function parseRequestFrame (v: Record<string, unknown>): unknown {
  for (const k of Object.keys(v)) if (k !== 'body') throw new MeshRpcError(RPC_ERRORS.badFrame, `the request frame has unknown field ${JSON.stringify(k.slice(0, 64))}`)
  return v.body
}

/** What `serveStream` needs from the mesh. */
export interface ServeOptions {
  maxFrameBytes: number
  /** Aborts every call in flight (the mesh stops). */
  stopSignal: AbortSignal
  log: (message: string) => void
}

/**
 * Serves one inbound stream. Never rejects: every failure ends this stream (with an `err`
 * frame when the stream can still carry one) and nothing else.
 */
export async function serveStream (stream: Stream, peerId: string, protocol: string, handler: RpcHandler, opts: ServeOptions): Promise<void> {
  const { maxFrameBytes } = opts
  const reader = new FrameReader(stream, maxFrameBytes)
  const callAbort = new AbortController()
  const onClose = (): void => callAbort.abort(new MeshRpcError(RPC_ERRORS.connectionClosed, 'the caller went away'))
  const onStop = (): void => callAbort.abort(new MeshRpcError(RPC_ERRORS.stopped, 'the mesh is stopping'))
  stream.addEventListener('close', onClose)
  opts.stopSignal.addEventListener('abort', onStop, { once: true })

  const sendError = async (err: unknown): Promise<void> => {
    const error = errorBody(err)
    const t = linkedSignal(5000)
    try {
      if (stream.writeStatus === 'writable') {
        await writeFrame(stream, { t: 'err', error }, maxFrameBytes, t.signal)
        await stream.close({ signal: t.signal })
      }
      await stream.closeRead().catch(() => {})
    } catch (e) {
      stream.abort(e as Error)
    } finally {
      t.dispose()
    }
  }

  try {
    let body: unknown
    const first = linkedSignal(REQUEST_FRAME_TIMEOUT_MS, callAbort.signal)
    try {
      const frame = await reader.next(first.signal)
      if (frame === null) throw new MeshRpcError(RPC_ERRORS.badFrame, 'the stream ended before a request frame')
      body = parseRequestFrame(frame)
    } catch (err) {
      const e = err instanceof MeshRpcError ? err : new MeshRpcError(RPC_ERRORS.badFrame, `no request frame: ${(err as Error)?.message ?? String(err)}`)
      opts.log(`rpc ${protocol} from ${peerId}: ${e.message}`)
      await sendError(e)
      return
    } finally {
      first.dispose()
    }
    // Nothing more is read: the request is one frame.
    reader.dispose()

    let result: unknown
    try {
      result = await handler(body, { peerId, protocol, signal: callAbort.signal })
    } catch (err) {
      await sendError(err)
      return
    }

    if (!isAsyncIterable(result)) {
      try {
        await writeFrame(stream, { t: 'ok', body: result }, maxFrameBytes, callAbort.signal)
      } catch (err) {
        if (callAbort.signal.aborted) { stream.abort(err as Error); return }
        await sendError(err instanceof MeshRpcError ? err : new MeshRpcError(RPC_ERRORS.internal, `the handler's answer cannot be sent: ${(err as Error).message}`))
        return
      }
      await closeWrite(stream)
      return
    }

    const it = result[Symbol.asyncIterator]()
    const batch = new FrameBatch(stream)
    try {
      let since = performance.now()
      while (true) {
        const step = await it.next()
        if (step.done === true) break
        if (callAbort.signal.aborted) break
        await batch.add(encodeFrame({ t: 'item', body: step.value }, maxFrameBytes), callAbort.signal)
        // A generator that never waits, on a stream with room, would otherwise hold the event
        // loop (timers, other calls, pings) until it is done.
        if (performance.now() - since > 10) {
          await new Promise(resolve => setImmediate(resolve))
          since = performance.now()
        }
      }
    } catch (err) {
      try { await it.return?.() } catch {}
      if (callAbort.signal.aborted) { batch.discard(); stream.abort(err as Error); return }
      // The items sent so far arrive, then the error.
      try { batch.flush() } catch {}
      await sendError(err)
      return
    }
    if (callAbort.signal.aborted) {
      batch.discard()
      try { await it.return?.() } catch {}
      stream.abort(new Error('the caller went away'))
      return
    }
    batch.flush()
    await writeFrame(stream, { t: 'end' }, maxFrameBytes, callAbort.signal)
    await closeWrite(stream)
  } catch (err) {
    // Writing failed: the stream is gone. Nothing else is affected.
    stream.abort(err as Error)
  } finally {
    reader.dispose()
    stream.removeEventListener('close', onClose)
    opts.stopSignal.removeEventListener('abort', onStop)
  }
}

/**
 * Coalesces the frames of a streaming answer into fewer, larger sends (each send is a yamux
 * frame and a Noise message): frames produced in one turn of the event loop go out together,
 * at the latest when the loop gets a turn, or as soon as 64 KiB are waiting.
 */
class FrameBatch {
  private pending: Uint8Array[] = []
  private bytes = 0
  private scheduled = false
  constructor (private readonly stream: Stream) {}

  async add (frame: Uint8Array, signal: AbortSignal): Promise<void> {
    await waitForDrain(this.stream, signal)
    this.pending.push(frame)
    this.bytes += frame.byteLength
    if (this.bytes >= 64 * 1024) {
      if (!this.flush()) await waitForDrain(this.stream, signal)
    } else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => {
        this.scheduled = false
        try { this.flush() } catch (err) { this.stream.abort(err as Error) }
      })
    }
  }

  /** Sends what is waiting; false when the stream wants a drain first. */
  flush (): boolean {
    if (this.bytes === 0) return true
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.bytes)
    this.pending = []
    this.bytes = 0
    if (this.stream.writeStatus !== 'writable') return false
    return this.stream.send(data)
  }

  discard (): void {
    this.pending = []
    this.bytes = 0
  }
}

/** Half-closes a stream after the last frame; a peer that does not read it in 5 s loses it. */
async function closeWrite (stream: Stream): Promise<void> {
  const t = linkedSignal(5000)
  try {
    await stream.close({ signal: t.signal })
  } catch (err) {
    stream.abort(err as Error)
  } finally {
    t.dispose()
  }
}

/** Opens a stream for `protocol` to the peer; supplied by the mesh. */
export type OpenStream = (signal: AbortSignal) => Promise<Stream>

interface CallInit {
  peerId: string
  protocol: string
  body: unknown
  open: OpenStream
  maxFrameBytes: number
  timeoutMs: number
  signal?: AbortSignal
}

/** What went wrong, in words: libp2p sometimes rejects with a close Event instead of an Error. */
function reasonOf (err: unknown): string {
  if (err instanceof Event) return (err as Event & { error?: Error }).error?.message ?? `the connection closed (${err.type})`
  return (err as Error)?.message ?? String(err)
}

/** Turns an abort reason or a dial error into the MeshRpcError the caller sees. */
function callError (err: unknown, init: CallInit, timedOut: boolean, phase: 'dial' | 'call'): MeshRpcError {
  const what = `${init.protocol} on ${init.peerId}`
  if (init.signal?.aborted === true) return new MeshRpcError(RPC_ERRORS.cancelled, `${what}: cancelled by the caller`)
  if (timedOut) return new MeshRpcError(RPC_ERRORS.timeout, `${what}: no answer within ${init.timeoutMs} ms`)
  if (err instanceof MeshRpcError) return new MeshRpcError(err.code, `${what}: ${err.message}`, err.remote)
  const e = err as Error
  if (e?.name === 'UnsupportedProtocolError') return new MeshRpcError(RPC_ERRORS.noHandler, `${what}: the peer does not serve this protocol`)
  if (phase === 'dial') return new MeshRpcError(RPC_ERRORS.unreachable, `${what}: cannot reach the peer (${reasonOf(err)})`)
  return new MeshRpcError(RPC_ERRORS.connectionClosed, `${what}: ${reasonOf(err)}`)
}

async function openAndSend (init: CallInit, signal: AbortSignal, timedOut: () => boolean): Promise<{ stream: Stream, reader: FrameReader }> {
  let frame: Uint8Array
  try {
    frame = encodeFrame({ body: init.body }, init.maxFrameBytes)
  } catch (err) {
    throw callError(err instanceof MeshRpcError ? err : new MeshRpcError(RPC_ERRORS.badFrame, `the request cannot be sent: ${(err as Error).message}`), init, false, 'call')
  }
  let stream: Stream
  try {
    stream = await init.open(signal)
  } catch (err) {
    throw callError(err, init, timedOut(), 'dial')
  }
  const reader = new FrameReader(stream, init.maxFrameBytes)
  try {
    if (!stream.send(frame)) await waitForDrain(stream, signal)
    await stream.close({ signal })
  } catch (err) {
    reader.dispose()
    stream.abort(err as Error)
    throw callError(err, init, timedOut(), 'call')
  }
  return { stream, reader }
}

/** One request, one answer. */
export async function call (init: CallInit): Promise<unknown> {
  const linked = linkedSignal(init.timeoutMs, init.signal)
  try {
    if (linked.signal.aborted) throw callError(linked.signal.reason, init, false, 'dial')
    const { stream, reader } = await openAndSend(init, linked.signal, linked.timedOut)
    try {
      const frame = await reader.next(linked.signal)
      if (frame === null) throw new MeshRpcError(RPC_ERRORS.connectionClosed, 'the stream closed without an answer')
      const msg = parseServerFrame(frame)
      switch (msg.t) {
        case 'ok': return msg.body
        case 'err': throw new MeshRpcError(msg.error.code, msg.error.message, true)
        default: throw new MeshRpcError(RPC_ERRORS.isStream, 'the handler streams its answer: call stream() instead of request()')
      }
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof MeshRpcError && err.remote) throw err
      throw callError(err, init, linked.timedOut(), 'call')
    } finally {
      reader.dispose()
    }
  } finally {
    linked.dispose()
  }
}

/** One request, a stream of items. Leaving the loop early closes the stream. */
export async function * callStream (init: CallInit): AsyncGenerator<unknown, void, undefined> {
  // The timeout covers opening the stream and sending the request; after that only the
  // caller's own signal ends the stream.
  const opening = linkedSignal(init.timeoutMs, init.signal)
  let opened: { stream: Stream, reader: FrameReader }
  try {
    if (opening.signal.aborted) throw callError(opening.signal.reason, init, false, 'dial')
    opened = await openAndSend(init, opening.signal, opening.timedOut)
  } finally {
    opening.dispose()
  }
  const { stream, reader } = opened
  let done = false
  try {
    while (true) {
      let msg: ServerFrame
      try {
        const frame = await reader.next(init.signal)
        if (frame === null) throw new MeshRpcError(RPC_ERRORS.connectionClosed, 'the stream closed before its end')
        msg = parseServerFrame(frame)
      } catch (err) {
        throw callError(err, init, false, 'call')
      }
      if (msg.t === 'item') { yield msg.body; continue }
      if (msg.t === 'ok') { yield msg.body; done = true; return }
      if (msg.t === 'end') { done = true; return }
      done = true
      throw new MeshRpcError(msg.error.code, msg.error.message, true)
    }
  } finally {
    reader.dispose()
    if (!done) stream.abort(new Error('the caller stopped reading'))
  }
}
