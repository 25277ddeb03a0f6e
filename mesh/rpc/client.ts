// The calling side of one RPC session over any Transport: the handshake, calls and server
// streams multiplexed by id, cancellation and read back-pressure. Typed by a method map
// (daemon/api/methods.ts derives one from its table), untyped by default.
//
// Imports only the codec and the vocabulary (no Node built-ins): the `dstack` client loads it
// and must start fast.
import { FrameDecoder, encodeFrame } from '../frames.ts'
import {
  MAX_FRAME_BYTES, ProtocolError, RPC_ERRORS, RpcError, parseServerFrame,
  type ClientFrame, type ServerFrame
} from './protocol.ts'
import type { Transport } from './transport.ts'

/** What a caller knows of one method: its params, its result (or stream item), its kind. */
export interface MethodType { params: unknown, result: unknown, stream: boolean }
export type MethodTypes = Record<string, MethodType>
/** Any method, any params: for sessions without a table (tests, the mesh's own protocols). */
export type AnyMethods = Record<string, { params: any, result: any, stream: any }>

type Unary<M extends MethodTypes> = { [K in keyof M & string]: M[K]['stream'] extends true ? never : K }[keyof M & string]
type Streaming<M extends MethodTypes> = { [K in keyof M & string]: M[K]['stream'] extends false ? never : K }[keyof M & string]
/** The params argument: optional where the method's params may be left out. */
type Args<T extends MethodType> = undefined extends T['params'] ? [params?: T['params'], opts?: CallOptions] : [params: T['params'], opts?: CallOptions]

export interface CallOptions {
  /** Aborting rejects the call with code `cancelled` and tells the server to stop. */
  signal?: AbortSignal
  /** For `call`: no answer within this rejects with code `timeout` (and cancels on the server). */
  timeoutMs?: number
}

export interface RpcClient<M extends MethodTypes = AnyMethods> {
  /** What the server said about itself in the handshake (empty without one). */
  readonly server: Record<string, unknown>
  /** True once the session is closed, by either side. */
  readonly closed: boolean
  call<K extends Unary<M>> (method: K, ...args: Args<M[K]>): Promise<M[K]['result']>
  /**
   * The items of a streaming method. The request goes out when iteration starts; leaving the
   * `for await` loop early (break, return, throw) or aborting `signal` cancels it on the server.
   */
  stream<K extends Streaming<M>> (method: K, ...args: Args<M[K]>): AsyncIterable<M[K]['result']>
  /** Closes the session; every pending call rejects with `connection_closed`. */
  close (): Promise<void>
}

export interface OpenOptions {
  /** Sent first, where the server asks for a token; absent: no handshake (libp2p peers). */
  token?: string
  /** The project the session's calls are for, sent with the token. */
  project?: string
  /** How long the handshake may take. Default 10 s. */
  timeoutMs?: number
  /** Who answers, for messages: `the daemon on /x/api.sock`, `peer 12D3…`. */
  remote: string
  /** Called once when the session closes, with why. */
  onClose?: (err: RpcError) => void
  /**
   * Requests go out right behind the token instead of after the server accepted it: one round
   * trip less for a one-shot command. A refused token (or no answer within `timeoutMs`) then
   * fails the session and the calls made meanwhile, instead of `openSession`.
   */
  pipeline?: boolean
  /** The message of the error a refused token gives (default: the server's). */
  refused?: string
}

/** Stream items buffered beyond this stop the client reading the transport until they are consumed. */
const STREAM_HIGH_WATER = 256

interface PendingCall {
  kind: 'call'
  resolve: (value: unknown) => void
  reject: (err: RpcError) => void
}

interface PendingStream {
  kind: 'stream'
  onFrame: (frame: ServerFrame) => void
  onClose: (err: RpcError) => void
}

/**
 * Starts a session on a connected transport: with `token`, resolves once the server accepted
 * it (or rejects with its reason); without, at once.
 */
export async function openSession<M extends MethodTypes = AnyMethods> (transport: Transport, opts: OpenOptions): Promise<RpcClient<M>> {
  const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES })
  const pending = new Map<number, PendingCall | PendingStream>()
  let nextId = 1
  let closedWith: RpcError | undefined
  let server: Record<string, unknown> = {}
  let handshake: { resolve: () => void, reject: (err: RpcError) => void } | undefined
  /** Streams whose buffers are over the high-water mark; reading resumes when none are. */
  const congested = new Set<number>()
  let onTransportClosed!: () => void
  const transportClosed = new Promise<void>(resolve => { onTransportClosed = resolve })

  function shutDown (err: RpcError): void {
    if (closedWith !== undefined) return
    closedWith = err
    transport.destroy()
    handshake?.reject(err)
    handshake = undefined
    for (const [, p] of pending) {
      if (p.kind === 'call') p.reject(err)
      else p.onClose(err)
    }
    pending.clear()
    opts.onClose?.(err)
  }

  function send (frame: ClientFrame): void {
    if (closedWith !== undefined) throw closedWith
    transport.write(encodeFrame(frame, MAX_FRAME_BYTES))
  }

  function onFrame (frame: ServerFrame): void {
    switch (frame.type) {
      case 'auth':
        if (handshake === undefined) throw new RpcError(RPC_ERRORS.badFrame, 'unexpected "auth" frame from the server')
        if (frame.ok) {
          server = frame.server
          handshake.resolve()
          handshake = undefined
        } else {
          shutDown(opts.refused === undefined ? RpcError.from(frame.error) : new RpcError(frame.error.code, opts.refused, frame.error.details, true))
        }
        return
      case 'error':
        shutDown(RpcError.from(frame.error))
        return
      default: {
        const p = pending.get(frame.id)
        // Answers to cancelled requests may still be on the wire: drop them.
        if (p === undefined) return
        if (p.kind === 'stream') { p.onFrame(frame); return }
        pending.delete(frame.id)
        if (frame.type !== 'res') {
          p.reject(new RpcError(RPC_ERRORS.isStream, 'the method streams its answer: call stream() instead of call()'))
          sendCancel(frame.id)
        } else if ('error' in frame) {
          p.reject(RpcError.from(frame.error))
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
    if (congested.size > 0) transport.pause()
    else if (closedWith === undefined) transport.resume()
  }

  transport.start({
    data: chunk => {
      if (closedWith !== undefined) return
      try {
        decoder.feed(chunk, value => {
          if (closedWith === undefined) onFrame(parseServerFrame(value))
        })
      } catch (err) {
        shutDown(new RpcError(RPC_ERRORS.badFrame, `bad frame from ${opts.remote}: ${(err as Error).message}`))
      }
    },
    end: () => shutDown(new RpcError(RPC_ERRORS.connectionClosed, `${opts.remote} closed the connection`)),
    close: err => {
      shutDown(new RpcError(RPC_ERRORS.connectionClosed, `${opts.remote} closed the connection${err !== undefined ? ` (${err.message})` : ''}`))
      onTransportClosed()
    }
  })

  if (opts.token !== undefined) {
    const timeoutMs = opts.timeoutMs ?? 10_000
    const accepted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        shutDown(new RpcError(RPC_ERRORS.timeout, `no answer from ${opts.remote} within ${timeoutMs} ms`))
      }, timeoutMs)
      handshake = {
        resolve: () => { clearTimeout(timer); resolve() },
        reject: err => { clearTimeout(timer); reject(err) }
      }
      try { send(opts.project === undefined ? { type: 'auth', token: opts.token! } : { type: 'auth', token: opts.token!, project: opts.project }) } catch { /* the close handler reports it */ }
    })
    // Pipelined, a failed handshake reaches the caller through shutDown: the calls and the session.
    if (opts.pipeline === true) accepted.catch(() => {})
    else await accepted
  }

  function request (id: number, method: string, params: unknown): RpcError | undefined {
    try {
      send(params === undefined ? { type: 'req', id, method } : { type: 'req', id, method, params })
      return undefined
    } catch (err) {
      if (err instanceof RpcError) return err
      // Too large (frame_too_large), or not JSON (a BigInt, a cycle: bad_frame).
      return new RpcError(err instanceof ProtocolError ? err.code : RPC_ERRORS.badFrame, `${method}: the request cannot be sent: ${(err as Error).message}`)
    }
  }

  function call (method: string, params?: unknown, callOpts: CallOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (closedWith !== undefined) { reject(closedWith); return }
      const { signal, timeoutMs } = callOpts
      if (signal?.aborted === true) { reject(cancelled(method)); return }
      const id = nextId++
      const giveUp = (err: RpcError): void => {
        if (!pending.delete(id)) return
        done()
        sendCancel(id)
        reject(err)
      }
      const onAbort = (): void => giveUp(cancelled(method))
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => giveUp(new RpcError(RPC_ERRORS.timeout, `${method}: no answer within ${timeoutMs} ms`)), timeoutMs)
      const done = (): void => { signal?.removeEventListener('abort', onAbort); clearTimeout(timer) }
      pending.set(id, {
        kind: 'call',
        resolve: v => { done(); resolve(v) },
        reject: e => { done(); reject(e) }
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      const err = request(id, method, params)
      if (err !== undefined) { pending.delete(id); done(); reject(err) }
    })
  }

  function stream (method: string, params?: unknown, callOpts: CallOptions = {}): AsyncIterable<unknown> {
    return {
      [Symbol.asyncIterator] (): AsyncIterator<unknown> {
        const { signal } = callOpts
        const id = nextId++
        const items: unknown[] = []
        let finished = false
        let failure: RpcError | undefined
        let waiter: { resolve: (r: IteratorResult<unknown>) => void, reject: (e: RpcError) => void } | undefined

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
        const takeItem = (): unknown => {
          const item = items.shift()
          if (items.length < STREAM_HIGH_WATER / 2 && congested.has(id)) setCongested(id, false)
          return item
        }
        const stop = (): void => {
          signal?.removeEventListener('abort', onAbort)
          if (congested.has(id)) setCongested(id, false)
          if (pending.delete(id)) sendCancel(id)
        }
        const fail = (err: RpcError): void => {
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
                items.push(frame.data)
                if (items.length >= STREAM_HIGH_WATER) setCongested(id, true)
              } else if (frame.type === 'end') {
                pending.delete(id)
                signal?.removeEventListener('abort', onAbort)
                finished = true
              } else if (frame.type === 'res') {
                pending.delete(id)
                signal?.removeEventListener('abort', onAbort)
                if ('error' in frame) failure = RpcError.from(frame.error)
                else finished = true // a plain answer to a stream request: no items
              }
              settle()
            },
            onClose: err => { if (!finished) { failure ??= err } settle() }
          })
          signal?.addEventListener('abort', onAbort, { once: true })
          const err = request(id, method, params)
          if (err !== undefined) { pending.delete(id); failure = err }
        }

        return {
          next: () => new Promise<IteratorResult<unknown>>((resolve, reject) => {
            if (waiter !== undefined) { reject(new RpcError(RPC_ERRORS.badFrame, 'next() called again before the previous one settled')); return }
            waiter = { resolve, reject }
            settle()
          }),
          return: async (): Promise<IteratorResult<unknown>> => {
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

  const client: RpcClient = {
    get server () { return server },
    get closed () { return closedWith !== undefined },
    call,
    stream,
    async close () {
      shutDown(new RpcError(RPC_ERRORS.connectionClosed, 'the connection was closed by this client'))
      await transportClosed
    }
  }
  return client as unknown as RpcClient<M>
}

function cancelled (method: string): RpcError {
  return new RpcError(RPC_ERRORS.cancelled, `${method} was cancelled`)
}
