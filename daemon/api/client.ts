// The client side of the protocol (protocol.ts): what `dstack` uses to talk to a daemon.
// Imports only Node built-ins, protocol.ts and mesh/errors.ts, so a one-shot command starts fast.
import net from 'node:net'
import {
  DEFAULT_MAX_FRAME_BYTES, ERROR_CODES, FrameDecoder, ProtocolError, encodeFrame, parseServerFrame,
  type ClientFrame, type ErrorBody, type ServerFrame
} from './protocol.ts'
import { CodedError } from '../../mesh/errors.ts'

/** A failed call: `code` is the server's (`unknown_method`, `not_found`, …) or the client's own (`unavailable`, `connection_closed`, `cancelled`, `timeout`). */
export class ApiError extends CodedError {
  override name = 'ApiError'

  static from (body: ErrorBody): ApiError {
    return new ApiError(body.code, body.message, body.details)
  }
}

export interface ConnectOptions {
  socketPath: string
  token: string
  /** How long connecting and authenticating may take. Default 10 s. */
  timeoutMs?: number
  /** The largest frame accepted from the server. Default 16 MiB. */
  maxFrameBytes?: number
}

export interface CallOptions {
  /** Aborting rejects the call with code `cancelled` and tells the server to stop. */
  signal?: AbortSignal
}

export interface ApiClient {
  /** What the server said about itself when the connection was authenticated. */
  readonly server: Record<string, unknown>
  /** True once the connection is closed, by either side. */
  readonly closed: boolean
  call<T = unknown> (method: string, params?: unknown, opts?: CallOptions): Promise<T>
  /**
   * The items of a streaming method. The request goes out when iteration starts; leaving the
   * `for await` loop early (break, return, throw) or aborting `signal` cancels it on the server.
   */
  stream<T = unknown> (method: string, params?: unknown, opts?: CallOptions): AsyncIterable<T>
  /** Closes the connection; every pending call rejects with `connection_closed`. */
  close (): Promise<void>
}

/** Stream items buffered beyond this stop the client reading the socket until they are consumed. */
const STREAM_HIGH_WATER = 256

interface PendingCall {
  kind: 'call'
  resolve: (value: unknown) => void
  reject: (err: ApiError) => void
}

interface PendingStream {
  kind: 'stream'
  onFrame: (frame: ServerFrame) => void
  onClose: (err: ApiError) => void
}

export async function connectApi (opts: ConnectOptions): Promise<ApiClient> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const decoder = new FrameDecoder({ maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES })
  const socket = net.connect(opts.socketPath)
  const pending = new Map<number, PendingCall | PendingStream>()
  let nextId = 1
  let closedWith: ApiError | undefined
  let server: Record<string, unknown> | undefined
  let handshake: { resolve: () => void, reject: (err: ApiError) => void } | undefined
  /** Streams whose buffers are over the high-water mark; reading resumes when none are. */
  const congested = new Set<number>()

  function shutDown (err: ApiError): void {
    if (closedWith !== undefined) return
    closedWith = err
    socket.destroy()
    handshake?.reject(err)
    handshake = undefined
    for (const [, p] of pending) {
      if (p.kind === 'call') p.reject(err)
      else p.onClose(err)
    }
    pending.clear()
  }

  function send (frame: ClientFrame): void {
    if (closedWith !== undefined) throw closedWith
    socket.write(encodeFrame(frame))
  }

  function onFrame (frame: ServerFrame): void {
    switch (frame.type) {
      case 'auth':
        if (handshake === undefined) throw new ProtocolError(ERROR_CODES.badFrame, 'unexpected "auth" frame from the server')
        if (frame.ok) {
          server = frame.server
          handshake.resolve()
          handshake = undefined
        } else {
          shutDown(ApiError.from(frame.error))
        }
        return
      case 'error':
        shutDown(ApiError.from(frame.error))
        return
      default: {
        const p = pending.get(frame.id)
        // Answers to cancelled requests may still be on the wire: drop them.
        if (p === undefined) return
        if (p.kind === 'stream') { p.onFrame(frame); return }
        pending.delete(frame.id)
        if (frame.type !== 'res') {
          p.reject(new ApiError(ERROR_CODES.badFrame, `the server sent "${frame.type}" for request ${frame.id}, which is not a stream; use stream()`))
          sendCancel(frame.id)
        } else if ('error' in frame) {
          p.reject(ApiError.from(frame.error))
        } else {
          p.resolve(frame.result)
        }
      }
    }
  }

  function sendCancel (id: number): void {
    if (closedWith === undefined) send({ type: 'cancel', id })
  }

  function setCongested (id: number, on: boolean): void {
    if (on) congested.add(id)
    else congested.delete(id)
    if (congested.size > 0) socket.pause()
    else if (closedWith === undefined) socket.resume()
  }

  socket.on('data', chunk => {
    try {
      for (const value of decoder.push(chunk)) {
        if (closedWith !== undefined) return
        onFrame(parseServerFrame(value))
      }
    } catch (err) {
      shutDown(new ApiError(ERROR_CODES.badFrame, `bad frame from the daemon on ${opts.socketPath}: ${(err as Error).message}`))
    }
  })
  socket.on('error', (err: NodeJS.ErrnoException) => {
    shutDown(connectError(err, opts.socketPath))
  })
  socket.on('close', () => {
    shutDown(new ApiError(ERROR_CODES.connectionClosed, `the daemon on ${opts.socketPath} closed the connection`))
  })

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      shutDown(new ApiError(ERROR_CODES.timeout, `no answer from the daemon on ${opts.socketPath} within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (): void => clearTimeout(timer)
    handshake = {
      resolve: () => { done(); resolve() },
      reject: err => { done(); reject(err) }
    }
    socket.once('connect', () => {
      try { send({ type: 'auth', token: opts.token }) } catch { /* the close handler reports it */ }
    })
  })

  function call<T> (method: string, params?: unknown, callOpts: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (closedWith !== undefined) { reject(closedWith); return }
      const { signal } = callOpts
      if (signal?.aborted === true) { reject(cancelled(method)); return }
      const id = nextId++
      const onAbort = (): void => {
        if (!pending.delete(id)) return
        sendCancel(id)
        reject(cancelled(method))
      }
      pending.set(id, {
        kind: 'call',
        resolve: v => { signal?.removeEventListener('abort', onAbort); resolve(v as T) },
        reject: e => { signal?.removeEventListener('abort', onAbort); reject(e) }
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        send(frameOf(id, method, params))
      } catch (err) {
        pending.delete(id)
        reject(err instanceof ApiError ? err : new ApiError(ERROR_CODES.badFrame, `cannot send ${method}: ${(err as Error).message}`))
      }
    })
  }

  function stream<T> (method: string, params?: unknown, callOpts: CallOptions = {}): AsyncIterable<T> {
    return {
      [Symbol.asyncIterator] (): AsyncIterator<T> {
        const { signal } = callOpts
        const id = nextId++
        const items: T[] = []
        let finished = false
        let failure: ApiError | undefined
        let waiter: { resolve: (r: IteratorResult<T>) => void, reject: (e: ApiError) => void } | undefined

        const settle = (): void => {
          if (waiter === undefined) return
          const w = waiter
          if (items.length > 0) {
            waiter = undefined
            w.resolve({ value: takeItem(), done: false })
          } else if (failure !== undefined) {
            waiter = undefined
            w.reject(failure)
          } else if (finished) {
            waiter = undefined
            w.resolve({ value: undefined, done: true })
          }
        }
        const takeItem = (): T => {
          const item = items.shift() as T
          if (items.length < STREAM_HIGH_WATER / 2 && congested.has(id)) setCongested(id, false)
          return item
        }
        const stop = (): void => {
          signal?.removeEventListener('abort', onAbort)
          if (congested.has(id)) setCongested(id, false)
          if (pending.delete(id)) sendCancel(id)
        }
        const fail = (err: ApiError): void => {
          if (finished || failure !== undefined) return
          failure = err
          stop()
          settle()
        }
        const onAbort = (): void => fail(cancelled(method))

        if (closedWith !== undefined) failure = closedWith
        else if (signal?.aborted === true) failure = cancelled(method)
        else {
          pending.set(id, {
            kind: 'stream',
            onFrame: frame => {
              if (frame.type === 'item') {
                items.push(frame.data as T)
                if (items.length >= STREAM_HIGH_WATER) setCongested(id, true)
              } else if (frame.type === 'end') {
                pending.delete(id)
                signal?.removeEventListener('abort', onAbort)
                finished = true
              } else if (frame.type === 'res') {
                pending.delete(id)
                signal?.removeEventListener('abort', onAbort)
                if ('error' in frame) failure = ApiError.from(frame.error)
                else finished = true // a plain answer to a stream request: no items
              }
              settle()
            },
            onClose: err => { if (!finished) { failure ??= err } settle() }
          })
          signal?.addEventListener('abort', onAbort, { once: true })
          try {
            send(frameOf(id, method, params))
          } catch (err) {
            pending.delete(id)
            failure = err instanceof ApiError ? err : new ApiError(ERROR_CODES.badFrame, `cannot send ${method}: ${(err as Error).message}`)
          }
        }

        return {
          next: () => new Promise<IteratorResult<T>>((resolve, reject) => {
            if (waiter !== undefined) { reject(new ApiError(ERROR_CODES.badFrame, 'next() called again before the previous one settled')); return }
            waiter = { resolve, reject }
            settle()
          }),
          return: async (): Promise<IteratorResult<T>> => {
            if (!finished && failure === undefined) {
              finished = true
              stop()
            }
            items.length = 0
            settle()
            return { value: undefined, done: true }
          }
        }
      }
    }
  }

  return {
    get server () { return server ?? {} },
    get closed () { return closedWith !== undefined },
    call,
    stream,
    close: () => new Promise<void>(resolve => {
      if (socket.destroyed) { shutDown(closedByClient()); resolve(); return }
      socket.once('close', () => resolve())
      shutDown(closedByClient())
    })
  }
}

function frameOf (id: number, method: string, params: unknown): ClientFrame {
  return params === undefined ? { type: 'req', id, method } : { type: 'req', id, method, params }
}

function cancelled (method: string): ApiError {
  return new ApiError(ERROR_CODES.cancelled, `${method} was cancelled`)
}

function closedByClient (): ApiError {
  return new ApiError(ERROR_CODES.connectionClosed, 'the connection was closed by this client')
}

function connectError (err: NodeJS.ErrnoException, socketPath: string): ApiError {
  switch (err.code) {
    case 'ENOENT':
      return new ApiError(ERROR_CODES.unavailable, `no dstackd is running here: ${socketPath} does not exist`)
    case 'ECONNREFUSED':
      return new ApiError(ERROR_CODES.unavailable, `no dstackd answers on ${socketPath} (connection refused; the socket is stale)`)
    case 'EACCES':
    case 'EPERM':
      return new ApiError(ERROR_CODES.unavailable, `not allowed to connect to ${socketPath} (it belongs to another user?)`)
    case 'ENOTSOCK':
    case 'ENOTDIR':
      return new ApiError(ERROR_CODES.unavailable, `${socketPath} is not a socket`)
    default:
      return new ApiError(ERROR_CODES.connectionClosed, `connection to the daemon on ${socketPath} failed: ${err.message}`)
  }
}
