// The client protocol: length-prefixed JSON frames over a Unix socket (or, later, a libp2p
// stream). A frame is a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
//
// This file imports only Node built-ins, and uses only type syntax that erases, because the
// `dstack` client imports it and must start fast (STACK.md, "Start-up cost of a Node command").

/** Bytes of the length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4
/** The largest frame body either side accepts unless configured otherwise: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
/** Bumped when a frame changes meaning; the server reports it in its `auth` answer. */
export const PROTOCOL_VERSION = 1

/** Error codes the protocol itself produces (handlers add their own). */
export const ERROR_CODES = {
  /** The token was wrong, or a request came before authentication. */
  unauthenticated: 'unauthenticated',
  /** No handler for the method named in a request. */
  unknownMethod: 'unknown_method',
  /** A handler failed with an error that carried no code of its own. */
  internal: 'internal',
  /** A frame declared more bytes than the receiver accepts. */
  frameTooLarge: 'frame_too_large',
  /** A frame's bytes were not UTF-8, not JSON, or not a frame of a known shape. */
  badFrame: 'bad_frame',
  /** No daemon answers on the socket (client side). */
  unavailable: 'unavailable',
  /** The connection closed while a call was pending (client side). */
  connectionClosed: 'connection_closed',
  /** The caller gave up on a call or stream (client side). */
  cancelled: 'cancelled',
  /** No answer in time (client side). */
  timeout: 'timeout'
} as const

export interface ErrorBody {
  /** Machine-readable, snake_case: `unknown_method`, `not_found`, `internal`, … */
  code: string
  /** For humans: says what was wrong and, where it helps, what to do. */
  message: string
  details?: unknown
}

// Client → server
export interface AuthFrame { type: 'auth', token: string }
export interface RequestFrame { type: 'req', id: number, method: string, params?: unknown }
export interface CancelFrame { type: 'cancel', id: number }
export type ClientFrame = AuthFrame | RequestFrame | CancelFrame

// Server → client
export type AuthReplyFrame =
  | { type: 'auth', ok: true, server: Record<string, unknown> }
  | { type: 'auth', ok: false, error: ErrorBody }
export type ResponseFrame =
  | { type: 'res', id: number, result: unknown }
  | { type: 'res', id: number, error: ErrorBody }
export interface ItemFrame { type: 'item', id: number, data: unknown }
export interface EndFrame { type: 'end', id: number }
/** A connection-level error, sent just before the server closes a connection. */
export interface ErrorFrame { type: 'error', error: ErrorBody }
export type ServerFrame = AuthReplyFrame | ResponseFrame | ItemFrame | EndFrame | ErrorFrame

/** A frame that could not be read or has the wrong shape. The connection cannot go on. */
export class ProtocolError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}

/**
 * One frame: the JSON of `value` behind its length. Throws a ProtocolError when the body would
 * exceed `maxFrameBytes`, and a TypeError when `value` cannot be written as JSON (a BigInt, a
 * cycle, `undefined`).
 */
export function encodeFrame (value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  const json = JSON.stringify(value)
  if (json === undefined) throw new TypeError(`a frame must be JSON, not ${typeof value}`)
  const length = Buffer.byteLength(json)
  if (length > maxFrameBytes) {
    throw new ProtocolError(ERROR_CODES.frameTooLarge, `frame of ${length} bytes is over the limit of ${maxFrameBytes}`)
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length)
  frame.writeUInt32BE(length, 0)
  frame.write(json, FRAME_HEADER_BYTES, 'utf8')
  return frame
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
/** Buffers above this are dropped, not kept for reuse, once empty. */
const RETAIN_BYTES = 64 * 1024

/**
 * Turns a byte stream cut at arbitrary places back into the JSON values of its frames.
 * `push` returns the frames a chunk completed (often none, sometimes several) and throws a
 * ProtocolError on the first bad frame; after that the decoder is spent.
 *
 * Memory stays proportional to what has arrived, not to what a header declares: a peer that
 * declares 16 MiB and sends 10 bytes holds 10 bytes. Bytes are copied once into a buffer that
 * grows by doubling, so a large frame fed one byte at a time costs linear time.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number
  private buf: Buffer = Buffer.alloc(0)
  private start = 0
  private end = 0
  /** The declared length of the frame being read, or -1 while reading its header. */
  private expected = -1
  private failed: ProtocolError | undefined

  constructor (opts: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered (): number { return this.end - this.start }

  /** True when the bytes so far end exactly at a frame boundary. */
  get idle (): boolean { return this.buffered === 0 && this.expected < 0 }

  push (chunk: Uint8Array): unknown[] {
    if (this.failed) throw this.failed
    try {
      return this.read(chunk)
    } catch (err) {
      this.failed = err instanceof ProtocolError ? err : new ProtocolError(ERROR_CODES.badFrame, String(err))
      this.buf = Buffer.alloc(0)
      this.start = this.end = 0
      throw this.failed
    }
  }

  private read (chunk: Uint8Array): unknown[] {
    const out: unknown[] = []
    let data: Uint8Array
    let pos: number
    let end: number
    if (this.buffered === 0) {
      // The common case: parse straight out of the chunk, copy only a leftover.
      data = chunk
      pos = 0
      end = chunk.length
    } else {
      this.append(chunk)
      data = this.buf
      pos = this.start
      end = this.end
    }
    for (;;) {
      if (this.expected < 0) {
        if (end - pos < FRAME_HEADER_BYTES) break
        const length = ((data[pos]! << 24) >>> 0) + (data[pos + 1]! << 16) + (data[pos + 2]! << 8) + data[pos + 3]!
        pos += FRAME_HEADER_BYTES
        if (length > this.maxFrameBytes) {
          throw new ProtocolError(ERROR_CODES.frameTooLarge, `frame declares ${length} bytes, over the limit of ${this.maxFrameBytes}`)
        }
        this.expected = length
      }
      if (end - pos < this.expected) break
      out.push(parseBody(data.subarray(pos, pos + this.expected)))
      pos += this.expected
      this.expected = -1
    }
    if (data === chunk) {
      if (pos < end) this.append(chunk.subarray(pos))
    } else {
      this.start = pos
      if (this.start === this.end) {
        this.start = this.end = 0
        if (this.buf.length > RETAIN_BYTES) this.buf = Buffer.alloc(0)
      }
    }
    return out
  }

  private append (bytes: Uint8Array): void {
    const used = this.end - this.start
    const need = used + bytes.length
    if (this.end + bytes.length > this.buf.length) {
      if (need <= this.buf.length) {
        this.buf.copy(this.buf, 0, this.start, this.end)
      } else {
        const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, 1024))
        this.buf.copy(grown, 0, this.start, this.end)
        this.buf = grown
      }
      this.start = 0
      this.end = used
    }
    this.buf.set(bytes, this.end)
    this.end += bytes.length
  }
}

function parseBody (body: Uint8Array): unknown {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    throw new ProtocolError(ERROR_CODES.badFrame, 'frame is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ProtocolError(ERROR_CODES.badFrame, `frame is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(value)) {
    throw new ProtocolError(ERROR_CODES.badFrame, `a frame must be a JSON object, not ${describe(value)}`)
  }
  return value
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return `a ${typeof v}`
}

function isId (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function bad (message: string): never {
  throw new ProtocolError(ERROR_CODES.badFrame, message)
}

function frameType (value: unknown): string {
  if (!isObject(value)) bad(`a frame must be a JSON object, not ${describe(value)}`)
  const type = value.type
  if (typeof type !== 'string') bad('a frame needs a string "type"')
  return type
}

/** Checks a decoded value against the frames a client may send. Throws a ProtocolError. */
export function parseClientFrame (value: unknown): ClientFrame {
  const type = frameType(value)
  const v = value as Record<string, unknown>
  switch (type) {
    case 'auth':
      if (typeof v.token !== 'string') bad('an "auth" frame needs a string "token"')
      return { type, token: v.token }
    case 'req':
      if (!isId(v.id)) bad('a "req" frame needs an "id" that is a non-negative integer')
      if (typeof v.method !== 'string' || v.method === '') bad(`request ${v.id} needs a non-empty string "method"`)
      return { type, id: v.id, method: v.method, params: v.params }
    case 'cancel':
      if (!isId(v.id)) bad('a "cancel" frame needs an "id" that is a non-negative integer')
      return { type, id: v.id }
    default:
      bad(`unknown frame type ${JSON.stringify(type).slice(0, 60)} (expected "auth", "req" or "cancel")`)
  }
}

/** Checks a decoded value against the frames a server may send. Throws a ProtocolError. */
export function parseServerFrame (value: unknown): ServerFrame {
  const type = frameType(value)
  const v = value as Record<string, unknown>
  switch (type) {
    case 'auth':
      if (v.ok === true) return { type, ok: true, server: isObject(v.server) ? v.server : {} }
      return { type, ok: false, error: errorBody(v.error) }
    case 'res':
      if (!isId(v.id)) bad('a "res" frame needs an integer "id"')
      if ('error' in v && v.error !== undefined) return { type, id: v.id, error: errorBody(v.error) }
      return { type, id: v.id, result: v.result }
    case 'item':
      if (!isId(v.id)) bad('an "item" frame needs an integer "id"')
      return { type, id: v.id, data: v.data }
    case 'end':
      if (!isId(v.id)) bad('an "end" frame needs an integer "id"')
      return { type, id: v.id }
    case 'error':
      return { type, error: errorBody(v.error) }
    default:
      bad(`unknown frame type ${JSON.stringify(type).slice(0, 60)} from the server`)
  }
}

function errorBody (v: unknown): ErrorBody {
  if (!isObject(v)) return { code: ERROR_CODES.internal, message: 'the server sent an error without details' }
  const body: ErrorBody = {
    code: typeof v.code === 'string' ? v.code : ERROR_CODES.internal,
    message: typeof v.message === 'string' ? v.message : 'no message'
  }
  if (v.details !== undefined) body.details = v.details
  return body
}
