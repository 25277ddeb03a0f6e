// The `dstack` side of the API on this host's Unix socket: connects, authenticates and gives
// an RpcClient typed by the method table (methods.ts). The engine is mesh/rpc/; this file only
// opens the socket and says clearly why when nothing answers.
//
// Imports node:net, the engine's client half (no Node built-ins) and types only, so a one-shot
// command starts fast: the method table's schemas (valibot) are not loaded here.
import net from 'node:net'
import { openSession, type RpcClient } from '../../mesh/rpc/client.ts'
import { RPC_ERRORS, RpcError } from '../../mesh/rpc/protocol.ts'
import { duplexTransport } from '../../mesh/rpc/transport.ts'
import type { ClientMethods } from './methods.ts'

export { RpcError as ApiError } from '../../mesh/rpc/protocol.ts'
export type { CallOptions } from '../../mesh/rpc/client.ts'

/** A session with a daemon, typed by the method table. */
export type ApiClient = RpcClient<ClientMethods>

export interface ConnectOptions {
  socketPath: string
  token: string
  /** The project the session's calls are for (default: the daemon's `main`). */
  project?: string
  /** How long connecting and authenticating may take. Default 10 s. */
  timeoutMs?: number
  /** Calls go out without waiting for the token to be accepted (see OpenOptions.pipeline). */
  pipeline?: boolean
  /** The message of the error a refused token gives. */
  refused?: string
}

/** Connects to a daemon's socket and authenticates; fails with an ApiError (`unavailable`, `unauthenticated`, `timeout`). */
export async function connectApi (opts: ConnectOptions): Promise<ApiClient> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const started = Date.now()
  const socket = net.connect(opts.socketPath)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new RpcError(RPC_ERRORS.timeout, `no answer from the daemon on ${opts.socketPath} within ${timeoutMs} ms`)) }, timeoutMs)
    socket.once('connect', () => { clearTimeout(timer); socket.off('error', onError); resolve() })
    const onError = (err: NodeJS.ErrnoException): void => { clearTimeout(timer); reject(connectError(err, opts.socketPath)) }
    socket.once('error', onError)
  })
  return await openSession<ClientMethods>(duplexTransport(socket, opts.socketPath), {
    token: opts.token,
    project: opts.project,
    timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
    remote: `the daemon on ${opts.socketPath}`,
    pipeline: opts.pipeline,
    refused: opts.refused
  })
}

function connectError (err: NodeJS.ErrnoException, socketPath: string): RpcError {
  switch (err.code) {
    case 'ENOENT':
      return new RpcError(RPC_ERRORS.unavailable, `no dstackd is running here: ${socketPath} does not exist`)
    case 'ECONNREFUSED':
      return new RpcError(RPC_ERRORS.unavailable, `no dstackd answers on ${socketPath} (connection refused; the socket is stale)`)
    case 'EACCES':
    case 'EPERM':
      return new RpcError(RPC_ERRORS.unavailable, `not allowed to connect to ${socketPath} (it belongs to another user?)`)
    case 'ENOTSOCK':
    case 'ENOTDIR':
      return new RpcError(RPC_ERRORS.unavailable, `${socketPath} is not a socket`)
    default:
      return new RpcError(RPC_ERRORS.connectionClosed, `connection to the daemon on ${socketPath} failed: ${err.message}`)
  }
}
