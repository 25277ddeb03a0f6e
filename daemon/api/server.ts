// The daemon's API on a Unix socket (mode 0600): each connection is one session of the RPC
// engine (mesh/rpc/server.ts), which authenticates it and serves the handlers. This file
// only listens, keeps the socket file private and replaces a stale one.
import { chmod, lstat, unlink } from 'node:fs/promises'
import net from 'node:net'
import { serveSession, type Handlers, type Session } from '../../mesh/rpc/server.ts'
import { duplexTransport } from '../../mesh/rpc/transport.ts'

export interface ApiServerOptions {
  /** Where to listen, usually `DIR/api.sock`. Created with mode 0600. */
  socketPath: string
  /** The token a client must present; a function is asked at every handshake (rotation). */
  token?: string | (() => string)
  /** Instead of `token`: who a client's token (and project) is (daemon/api/access.ts); undefined refuses it. */
  authenticate?: (credentials: { token: string, project?: string }) => object | undefined
  /** What the socket serves: `bindMethods('client', …)` (methods.ts) in the daemon. */
  handlers: Handlers
  /** Sent to the client in the `auth` answer, next to `protocol`. */
  info?: object
  /** How long a new connection may take to authenticate. Default 10 s. */
  authTimeoutMs?: number
  /** Structured events: protocol errors, failed handshakes, handler failures. Never the token. */
  log?: (event: Record<string, unknown>) => void
}

export interface ApiServer {
  /** Stops listening, closes every connection (aborting their handlers) and removes the socket file. */
  close (): Promise<void>
  /** Open connections, authenticated or not. */
  connections (): number
}

export async function createApiServer (opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? (() => {})
  const live = new Set<Session>()
  let nextConnection = 1

  await removeStaleSocket(opts.socketPath)

  const server = net.createServer(socket => {
    try {
      const session = serveSession(duplexTransport(socket, `unix#${nextConnection++}`), {
        handlers: opts.handlers, token: opts.token, authenticate: opts.authenticate, info: opts.info, authTimeoutMs: opts.authTimeoutMs, log
      })
      live.add(session)
      void session.closed.then(() => live.delete(session))
    } catch (err) {
      log({ event: 'connection_error', error: String(err) })
      socket.destroy()
    }
  })
  server.on('error', err => log({ event: 'server_error', error: err.message }))

  await listenPrivately(server, opts.socketPath)

  let closing: Promise<void> | undefined
  return {
    connections: () => live.size,
    close () {
      closing ??= (async () => {
        const stopped = new Promise<void>(resolve => server.close(() => resolve()))
        await Promise.all([...live].map(c => c.close()))
        await stopped
        await unlink(opts.socketPath).catch(() => {})
      })()
      return closing
    }
  }
}

/** Listens with a umask that makes the socket file 0600 from its first moment, then makes sure. */
async function listenPrivately (server: net.Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${socketPath}: ${err.message}`))
    server.once('error', onError)
    let previous: number | undefined
    try { previous = process.umask(0o177) } catch { /* worker threads cannot set the umask */ }
    try {
      server.listen(socketPath, () => {
        server.off('error', onError)
        resolve()
      })
    } finally {
      if (previous !== undefined) process.umask(previous)
    }
  })
  await chmod(socketPath, 0o600)
}

/**
 * A socket file left by a daemon that died is removed; one that a live daemon answers on is
 * not (that is a second daemon on the same DIR), and neither is a path that is not a socket.
 */
async function removeStaleSocket (socketPath: string): Promise<void> {
  let stat
  try {
    stat = await lstat(socketPath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; not touching it`)
  const answer = await new Promise<'live' | string>(resolve => {
    const probe = net.connect(socketPath)
    // A daemon too busy to accept in time is still alive: keep its socket.
    const timer = setTimeout(() => { probe.destroy(); resolve('live') }, 2000)
    probe.once('connect', () => { clearTimeout(timer); probe.destroy(); resolve('live') })
    probe.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? err.message) })
  })
  if (answer === 'live') throw new Error(`another dstackd is already serving ${socketPath}`)
  if (answer === 'ENOENT') return
  if (answer !== 'ECONNREFUSED') throw new Error(`cannot tell whether a daemon serves ${socketPath} (${answer}); not removing it`)
  await unlink(socketPath).catch(err => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  })
}

