// The RPC engine's one frame vocabulary and one error table, whatever carries the bytes (a Unix
// socket, a libp2p stream, an SSH channel). Frames are mesh/frames.ts's length-prefixed JSON
// objects; a session is one transport:
//
//   caller → server  {type:'auth', token, project?}        first, where the server asks for a token
//                    {type:'req', id, method, params?}     any number in flight, by id
//                    {type:'cancel', id}                   stops a request or a stream
//   server → caller  {type:'auth', ok, server | error}      the answer to auth
//                    {type:'res', id, result | error}      a unary answer, or a stream's failure
//                    {type:'item', id, data} … {type:'end', id}   a stream
//                    {type:'error', error}                 the session ends (what was wrong)
//
// Imports only mesh/frames.ts and mesh/errors.ts: the `dstack` client loads it and must start fast.
import { CodedError } from '../errors.ts'
import { describe, FRAME_ERRORS, isObject, ProtocolError } from '../frames.ts'

export { MAX_FRAME_BYTES, PRE_AUTH_MAX_FRAME_BYTES, ProtocolError } from '../frames.ts'

/** Bumped when a frame changes meaning; the server reports it in its `auth` answer. */
export const PROTOCOL_VERSION = 2

/**
 * Every code the engine produces, on every transport. Handlers add their own domain codes
 * (`not_found`, `conflict`, `no_leader`, …): any error with a string `code` travels as it is.
 */
export const RPC_ERRORS = {
  /** The token was wrong, or a request came before authentication. */
  unauthenticated: 'unauthenticated',
  /** No method of that name is served here. */
  unknownMethod: 'unknown_method',
  /** The params do not match the method's schema; the message names the field. */
  invalid: 'invalid',
  /** A handler failed with an error that carried no code of its own. */
  internal: 'internal',
  /** A frame declared (or would need) more bytes than the receiver accepts. */
  frameTooLarge: FRAME_ERRORS.frameTooLarge,
  /** A frame's bytes were not UTF-8, not JSON, or not a frame of a known shape. */
  badFrame: FRAME_ERRORS.badFrame,
  /** One session has too many requests in flight. */
  tooManyRequests: 'too_many_requests',
  /** `call()` reached a streaming method (use `stream()`). */
  isStream: 'is_stream',
  /** Nothing answers where the caller looked (no socket, no daemon). */
  unavailable: 'unavailable',
  /** The peer could not be dialed. */
  unreachable: 'unreachable',
  /** The peer does not serve the protocol at all. */
  noHandler: 'no_handler',
  /** A peer id that is not one. */
  badPeerId: 'bad_peer_id',
  /** The transport closed while a call was pending. */
  connectionClosed: 'connection_closed',
  /** The caller gave up on a call or stream. */
  cancelled: 'cancelled',
  /** No answer in time. */
  timeout: 'timeout',
  /** The server is shutting down. */
  stopped: 'stopped'
} as const

/**
 * A failed call, on either side: `code` from RPC_ERRORS or a handler's own; `remote` when the
 * other side sent it (a handler's error, a refusal), false when this side saw it (a timeout,
 * a closed transport).
 */
export class RpcError extends CodedError {
  override name = 'RpcError'
  readonly remote: boolean
  constructor (code: string, message: string, details?: unknown, remote = false) {
    super(code, message, details)
    this.remote = remote
  }

  static from (body: ErrorBody, remote = true): RpcError {
    return new RpcError(body.code, body.message, body.details, remote)
  }
}

export interface ErrorBody {
  /** Machine-readable, snake_case: `unknown_method`, `not_found`, `internal`, … */
  code: string
  /** For humans: says what was wrong and, where it helps, what to do. */
  message: string
  details?: unknown
}

// Caller → server
/** `project`: the project the session's calls are for, where the server has projects. */
export interface AuthFrame { type: 'auth', token: string, project?: string }
export interface RequestFrame { type: 'req', id: number, method: string, params?: unknown }
export interface CancelFrame { type: 'cancel', id: number }
export type ClientFrame = AuthFrame | RequestFrame | CancelFrame

// Server → caller
export type AuthReplyFrame =
  | { type: 'auth', ok: true, server: Record<string, unknown> }
  | { type: 'auth', ok: false, error: ErrorBody }
export type ResponseFrame =
  | { type: 'res', id: number, result: unknown }
  | { type: 'res', id: number, error: ErrorBody }
export interface ItemFrame { type: 'item', id: number, data: unknown }
export interface EndFrame { type: 'end', id: number }
/** A session-level error, sent just before the server closes the transport. */
export interface ErrorFrame { type: 'error', error: ErrorBody }
export type ServerFrame = AuthReplyFrame | ResponseFrame | ItemFrame | EndFrame | ErrorFrame

function isId (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function bad (message: string): never {
  throw new ProtocolError(RPC_ERRORS.badFrame, message)
}

function frameType (value: unknown): string {
  if (!isObject(value)) bad(`a frame must be a JSON object, not ${describe(value)}`)
  const type = value.type
  if (typeof type !== 'string') bad('a frame needs a string "type"')
  return type
}

/** Checks a decoded value against the frames a caller may send. Throws a ProtocolError. */
export function parseClientFrame (value: unknown): ClientFrame {
  const type = frameType(value)
  const v = value as Record<string, unknown>
  switch (type) {
    case 'auth':
      if (typeof v.token !== 'string') bad('an "auth" frame needs a string "token"')
      if (v.project !== undefined && typeof v.project !== 'string') bad('an "auth" frame\'s "project" must be a string')
      return v.project === undefined ? { type, token: v.token } : { type, token: v.token, project: v.project }
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
  if (!isObject(v)) return { code: RPC_ERRORS.internal, message: 'the server sent an error without details' }
  const body: ErrorBody = {
    code: typeof v.code === 'string' ? v.code : RPC_ERRORS.internal,
    message: typeof v.message === 'string' ? v.message : 'no message'
  }
  if (v.details !== undefined) body.details = v.details
  return body
}
