// The `dstack` side of the API: connects, authenticates and gives an RpcClient typed by the
// method table (methods.ts). The engine is mesh/rpc/; this file opens this host's Unix socket
// (and says clearly why when nothing answers), or takes any other Dialer (an SSH channel to a
// node's gateway: tui/remote/dial.ts).
//
// Imports node:net, the engine's client half (no Node built-ins) and types only, so a one-shot
// command starts fast: the method table's schemas (valibot) are not loaded here.
import net from 'node:net'
import { openSession, type RpcClient } from '../../mesh/rpc/client.ts'
import { RPC_ERRORS, RpcError } from '../../mesh/rpc/protocol.ts'
import { duplexTransport, type Transport } from '../../mesh/rpc/transport.ts'
import type { ClientMethods } from './methods.ts'

export { RpcError as ApiError } from '../../mesh/rpc/protocol.ts'
export type { CallOptions } from '../../mesh/rpc/client.ts'

/** A session with a daemon, typed by the method table. */
export type ApiClient = RpcClient<ClientMethods>

/** Opens a transport to a daemon's API, failing with an ApiError that says why. */
export interface Dialer {
  /** Who answers, for messages: `the daemon on /x/api.sock`, `the node at ssh://h:10022`. */
  readonly remote: string
  open (timeoutMs: number): Promise<Transport>
}

export interface ConnectOptions {
  /** This host's daemon socket; or `dial`. */
  socketPath?: string
  /** How to reach a daemon elsewhere (takes the place of socketPath). */
  dial?: Dialer
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

/** Connects to a daemon (its socket, or through `dial`) and authenticates; fails with an ApiError (`unavailable`, `unauthenticated`, `timeout`). */
export async function connectApi (opts: ConnectOptions): Promise<ApiClient> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const started = Date.now()
  const dialer = opts.dial ?? socketDialer(opts.socketPath ?? '')
  const transport = await dialer.open(timeoutMs)
  return await openSession<ClientMethods>(transport, {
    token: opts.token,
    project: opts.project,
    timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
    remote: dialer.remote,
    pipeline: opts.pipeline,
    refused: opts.refused
  })
}

/** This host's daemon, on its Unix socket. */
export function socketDialer (socketPath: string): Dialer {
  return {
    remote: `the daemon on ${socketPath}`,
    async open (timeoutMs) {
      const socket = net.connect(socketPath)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { socket.destroy(); reject(new RpcError(RPC_ERRORS.timeout, `no answer from the daemon on ${socketPath} within ${timeoutMs} ms`)) }, timeoutMs)
        socket.once('connect', () => { clearTimeout(timer); socket.off('error', onError); resolve() })
        const onError = (err: NodeJS.ErrnoException): void => { clearTimeout(timer); reject(connectError(err, socketPath)) }
        socket.once('error', onError)
      })
      return duplexTransport(socket, socketPath)
    }
  }
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
