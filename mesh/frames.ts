// The byte-level frame codec under every RPC session (mesh/rpc/: the client socket, peer calls
// over libp2p) and Raft's channels (mesh/channel.ts). A frame is a 4-byte big-endian unsigned
// length, then that many bytes of UTF-8 JSON, and its JSON is an object.
//
// This file imports only mesh/errors.ts and no Node built-ins: the `dstack` client loads it
// and must start fast, and it works the same on Buffers and plain Uint8Arrays.
// What a frame's object must contain is the RPC vocabulary's business (mesh/rpc/protocol.ts).
import { CodedError } from './errors.ts'

/** Bytes of the length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4
/** The largest frame body any side accepts or sends: 16 MiB (a run's code travels in 1 MiB pieces). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024
/**
 * The largest frame a server accepts before the caller has authenticated: enough for an auth
 * frame, so a stranger can never make a daemon buffer a 16 MiB frame.
 */
export const PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024

/** The codes a codec failure carries; both sides send them on the wire as they are. */
export const FRAME_ERRORS = {
  /** A frame declared (or would need) more bytes than the limit. */
  frameTooLarge: 'frame_too_large',
  /** A frame's bytes were not UTF-8, not JSON, not an object, or ended early. */
  badFrame: 'bad_frame'
} as const

/**
 * A frame that could not be read or written (and, on the socket API, one with the wrong shape).
 * The connection or stream it came on cannot go on.
 */
export class ProtocolError extends CodedError {
  override name = 'ProtocolError'
}

const utf8In = new TextEncoder()
const utf8Out = new TextDecoder('utf-8', { fatal: true })

/**
 * One frame: the JSON of `value` behind its length. Throws a ProtocolError (`frame_too_large`)
 * when the body would exceed `maxFrameBytes`, and a TypeError when `value` cannot be written as
 * JSON (a BigInt, a cycle, `undefined`).
 */
export function encodeFrame (value: unknown, maxFrameBytes: number): Uint8Array {
  const json = JSON.stringify(value)
  if (json === undefined) throw new TypeError(`a frame must be JSON, not ${typeof value}`)
  const body = utf8In.encode(json)
  if (body.length > maxFrameBytes) {
    throw new ProtocolError(FRAME_ERRORS.frameTooLarge, `frame of ${body.length} bytes is over the limit of ${maxFrameBytes}`)
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, FRAME_HEADER_BYTES)
  return frame
}

/** Buffers above this are dropped, not kept for reuse, once empty. */
const RETAIN_BYTES = 64 * 1024

/**
 * Turns a byte stream cut at arbitrary places back into the JSON objects of its frames.
 * `push` returns the frames a chunk completed (often none, sometimes several) and throws a
 * ProtocolError on the first bad frame; after that the decoder is spent and every call throws
 * that error again.
 *
 * The declared length is checked against `maxFrameBytes` as soon as the header is in, before
 * any of the body. Memory stays proportional to what has arrived, not to what a header
 * declares: a peer that declares 16 MiB and sends 10 bytes holds 10 bytes. Bytes are copied
 * at most once, into a buffer that grows by doubling, so a large frame fed one byte at a time
 * costs linear time.
 */
export class FrameDecoder {
  /** Checked at each header, so raising it (after authentication) applies from the next frame. */
  maxFrameBytes: number
  private buf = new Uint8Array(0)
  private start = 0
  private end = 0
  /** The declared length of the frame being read, or -1 while reading its header. */
  private expected = -1
  private failed: ProtocolError | undefined

  constructor (opts: { maxFrameBytes: number }) {
    this.maxFrameBytes = opts.maxFrameBytes
  }

  /** Bytes received but not yet part of a complete frame (a header already read not included). */
  get buffered (): number { return this.end - this.start }

  /** True when the bytes so far end exactly at a frame boundary. */
  get idle (): boolean { return this.buffered === 0 && this.expected < 0 }

  /** The frames `chunk` completes, in order. */
  push (chunk: Uint8Array): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    this.feed(chunk, value => { out.push(value) })
    return out
  }

  /**
   * Like `push`, but hands each frame to `onFrame` as soon as it is decoded, with the bytes it
   * took on the wire (header included), so the frames before a bad one are not lost.
   */
  feed (chunk: Uint8Array, onFrame: (value: Record<string, unknown>, wireBytes: number) => void): void {
    if (this.failed) throw this.failed
    try {
      this.read(chunk, onFrame)
    } catch (err) {
      this.fail(err instanceof ProtocolError ? err : new ProtocolError(FRAME_ERRORS.badFrame, String(err)))
    }
  }

  /** Says the bytes have ended: throws a ProtocolError (`bad_frame`) when they end inside a frame. */
  finish (): void {
    if (this.failed) throw this.failed
    if (this.idle) return
    const held = this.buffered + (this.expected >= 0 ? FRAME_HEADER_BYTES : 0)
    this.fail(new ProtocolError(FRAME_ERRORS.badFrame, `the stream ended inside a frame (${held} bytes of an incomplete frame)`))
  }

  private fail (err: ProtocolError): never {
    this.failed = err
    this.buf = new Uint8Array(0)
    this.start = this.end = 0
    throw err
  }

  private read (chunk: Uint8Array, onFrame: (value: Record<string, unknown>, wireBytes: number) => void): void {
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
          throw new ProtocolError(FRAME_ERRORS.frameTooLarge, `frame declares ${length} bytes, over the limit of ${this.maxFrameBytes}`)
        }
        this.expected = length
      }
      if (end - pos < this.expected) break
      const length = this.expected
      const value = parseBody(data.subarray(pos, pos + length))
      pos += length
      this.expected = -1
      if (data !== chunk) this.start = pos
      onFrame(value, FRAME_HEADER_BYTES + length)
    }
    if (data === chunk) {
      if (pos < end) this.append(chunk.subarray(pos))
    } else {
      this.start = pos
      if (this.start === this.end) {
        this.start = this.end = 0
        if (this.buf.length > RETAIN_BYTES) this.buf = new Uint8Array(0)
      }
    }
  }

  private append (bytes: Uint8Array): void {
    const used = this.end - this.start
    const need = used + bytes.length
    if (this.end + bytes.length > this.buf.length) {
      if (need <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end)
      } else {
        const grown = new Uint8Array(Math.max(need, this.buf.length * 2, 1024))
        grown.set(this.buf.subarray(this.start, this.end))
        this.buf = grown
      }
      this.start = 0
      this.end = used
    }
    this.buf.set(bytes, this.end)
    this.end += bytes.length
  }
}

function parseBody (body: Uint8Array): Record<string, unknown> {
  let text: string
  try {
    text = utf8Out.decode(body)
  } catch {
    throw new ProtocolError(FRAME_ERRORS.badFrame, 'frame is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ProtocolError(FRAME_ERRORS.badFrame, `frame is not JSON (not valid JSON: ${(err as Error).message})`)
  }
  if (!isObject(value)) {
    throw new ProtocolError(FRAME_ERRORS.badFrame, `a frame must be a JSON object, not ${describe(value)}`)
  }
  return value
}

/** True for a JSON object: not null, not an array. */
export function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** "null", "an array", "a number", …: what a value is, for error messages. */
export function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return `a ${typeof v}`
}
