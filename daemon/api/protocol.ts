// The client protocol: length-prefixed JSON frames over a Unix socket (or, later, a libp2p
// stream). A frame is a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
//
// The byte-level codec (encode, incremental decode, ProtocolError) is mesh/frames.ts, shared with
// RPC over libp2p; this file adds the socket API's default limit and its frame shapes.
//
// This file imports only mesh/frames.ts (which imports only mesh/errors.ts), and uses only type syntax that
// erases, because the `dstack` client imports it and must start fast (STACK.md, "Start-up cost
// of a Node command").
import {
  FRAME_ERRORS, FrameDecoder as FrameCodec, ProtocolError, describe, encodeFrame as encodeBytes, isObject
} from '../../mesh/frames.ts'

export { FRAME_HEADER_BYTES, ProtocolError } from '../../mesh/frames.ts'
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
  frameTooLarge: FRAME_ERRORS.frameTooLarge,
  /** A frame's bytes were not UTF-8, not JSON, or not a frame of a known shape. */
  badFrame: FRAME_ERRORS.badFrame,
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

/**
 * One frame: the JSON of `value` behind its length, as a Buffer. Throws a ProtocolError when the
 * body would exceed `maxFrameBytes`, and a TypeError when `value` cannot be written as JSON (a
 * BigInt, a cycle, `undefined`).
 */
export function encodeFrame (value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  const frame = encodeBytes(value, maxFrameBytes)
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
}

/**
 * mesh/frames.ts's decoder with this protocol's default limit: `push` returns the frames a chunk
 * completed and throws a ProtocolError on the first bad frame, after which it is spent.
 */
export class FrameDecoder extends FrameCodec {
  constructor (opts: { maxFrameBytes?: number } = {}) {
    super({ maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES })
  }
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
