// The SSH gateway of every dstackd (ssh2 server): any node is an entry point for a user with
// their token or a registered key. It authenticates a connection, then serves its channels:
//
//   subsystem dstack-api   the one RPC engine (mesh/rpc/server.ts), the same guarded handlers
//                          and auth frame as the Unix socket
//   shell, exec, sftp      a command inside the job the login name names (./session.ts)
//   direct-tcpip           a port of that job (the destination host is ignored: the job's own)
//
// What runs inside a job is JobAccess's (./types.ts); this file only authenticates, resolves
// the login name and plumbs channels. Nothing a client sends may throw out of it: every
// connection and channel has an 'error' handler, and a connection that does not authenticate
// in time, or fails too often, is dropped.
import type { Socket } from 'node:net'
import ssh2 from 'ssh2'
import type { AuthContext, Connection, ServerChannel } from 'ssh2'
import type { AccessControl, Caller } from '../api/access.ts'
import { serveSession, type Handlers, type Session } from '../../mesh/rpc/server.ts'
import { duplexTransport } from '../../mesh/rpc/transport.ts'
import { DEFAULT_PROJECT, userOfKey } from '../state/users.ts'
import type { State } from '../state/types.ts'
import type { Log } from '../log.ts'
import type { HostKey } from './hostkey.ts'
import { fingerprintOf, keyLine } from './keys.ts'
import { serveSessionChannel, type ChannelTarget } from './session.ts'
import { parseLoginName, resolveTarget, TargetError } from './target.ts'
import type { JobAccess } from './types.ts'

const { Server, utils } = ssh2

/** The gateway's port when `--ssh-port` is not given. */
export const DEFAULT_SSH_PORT = 10022
/** The subsystem that carries the RPC engine. */
export const API_SUBSYSTEM = 'dstack-api'

export interface SshGatewayOptions {
  /** Where to listen; 0 picks a free port. */
  port: number
  /** Default 0.0.0.0. */
  host?: string
  hostKey: HostKey
  /** The replicated state: users, their keys, projects, runs. */
  state: () => State
  /** Who a token is, and who a session's caller is now (daemon/api/access.ts). */
  access: Pick<AccessControl, 'authenticate' | 'principal'>
  /** What `dstack-api` serves: the socket's guarded handlers. */
  handlers: Handlers
  /** Sent in the `auth` answer of `dstack-api`, as on the socket. */
  info: () => object
  /** Runs shells, commands and forwards inside jobs. */
  jobs: JobAccess
  log: Log
  /** How long a connection may take to authenticate. Default 30 s. */
  authTimeoutMs?: number
}

export interface SshGateway {
  /** The port bound. */
  readonly port: number
  /** The host key's public line, `ssh-ed25519 AAAA…`. */
  readonly hostKey: string
  /** Open connections, authenticated or not. */
  connections (): number
  /** Stops listening and drops every connection (their job processes get SIGHUP). */
  close (): Promise<void>
}

/** Failed attempts one connection may make before it is dropped (OpenSSH's MaxAuthTries). */
const MAX_AUTH_FAILURES = 6
/** Connections still authenticating at once; more are dropped at once (a flood costs little). */
const MAX_UNAUTHENTICATED = 128
/** Methods offered to a client after a failure. */
const METHODS: Array<'publickey' | 'password' | 'keyboard-interactive'> = ['publickey', 'password', 'keyboard-interactive']

/** Who a connection authenticated as: by a token (its hash; null is this host's DIR/token) or by a key. */
type Identity = { token_hash: string | null, key?: undefined } | { token_hash: null, key: { user: string, fingerprint: string } }

function callerOf (id: Identity, project: string | undefined): Caller {
  const scope = project === undefined || project === '' ? DEFAULT_PROJECT : project
  return id.key === undefined ? { token_hash: id.token_hash, project: scope } : { token_hash: null, project: scope, key: id.key }
}

export async function startSshGateway (opts: SshGatewayOptions): Promise<SshGateway> {
  const log = opts.log
  const live = new Set<Connection>()
  const sessions = new Set<Session>()
  let unauthenticated = 0
  let nextChannel = 1

  /** The identity a token gives, or undefined. */
  function byToken (token: string): Identity | undefined {
    const caller = opts.access.authenticate({ token })
    return caller === undefined ? undefined : { token_hash: caller.token_hash }
  }

  /** A public key attempt: undefined refuses; 'probe' is a key offered without a signature yet. */
  function byKey (ctx: Extract<AuthContext, { method: 'publickey' }>): Identity | 'probe' | undefined {
    const found = userOfKey(opts.state(), fingerprintOf(ctx.key.data))
    if (found === undefined) return undefined
    if (ctx.signature === undefined || ctx.blob === undefined) return 'probe'
    const key = utils.parseKey(keyLine(found.key))
    if (key instanceof Error || Array.isArray(key)) return undefined
    if (key.getPublicSSH().equals(ctx.key.data) !== true) return undefined
    return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? { token_hash: null, key: { user: found.user, fingerprint: found.key.fingerprint } } : undefined
  }

  /** The `dstack-api` subsystem: the RPC engine, for this connection's user only. */
  function serveApi (channel: ServerChannel, id: Identity): void {
    const session = serveSession(duplexTransport(channel, `ssh#${nextChannel++}`), {
      handlers: opts.handlers,
      info: opts.info(),
      // The frame's token must be the one the connection logged in with; a key-authenticated
      // connection's frame token is not looked at (send an empty one): the key's user it is.
      authenticate: credentials => {
        if (id.key !== undefined) return callerOf(id, credentials.project)
        const caller = opts.access.authenticate(credentials)
        return caller !== undefined && caller.token_hash === id.token_hash ? caller : undefined
      },
      log: event => { const { event: what, ...fields } = event as { event?: unknown }; log.warn(`ssh api: ${String(what ?? 'event')}`, fields) }
    })
    sessions.add(session)
    void session.closed.then(() => sessions.delete(session))
  }

  /** The job a connection's login name reaches now, a refusal, or none (a name that targets no job). */
  function targetOf (login: string, id: Identity): ChannelTarget {
    const wanted = parseLoginName(login)
    if (wanted === undefined) return { none: `login name ${JSON.stringify(login)} names no job: log in as PROJECT/RUN (or PROJECT/RUN-REPLICA-JOB) to reach a run; this connection serves only the ${API_SUBSYSTEM} subsystem` }
    try {
      const state = opts.state()
      return { target: resolveTarget(state, opts.access.principal(callerOf(id, wanted.project)), wanted) }
    } catch (err) {
      if (err instanceof TargetError) return { refused: err.message }
      return { refused: (err as Error).message }
    }
  }

  function onClient (client: Connection, info: { ip: string, port: number }): void {
    const from = `${info.ip}:${info.port}`
    const socket = (client as unknown as { _sock?: Socket })._sock
    // Each step of a login is a small packet that waits for the other side's answer: with Nagle's
    // algorithm on, the delayed ACK holds many of them back ~40 ms (ps over ssh:// 480 → 168 ms).
    socket?.setNoDelay(true)
    live.add(client)
    client.on('close', () => live.delete(client))
    client.on('error', err => log.info('ssh connection error', { from, error: err.message }))
    if (unauthenticated >= MAX_UNAUTHENTICATED) {
      log.warn('ssh: too many connections authenticating at once; dropping a new one', { from })
      client.end()
      socket?.destroy()
      return
    }
    unauthenticated++
    let counted = true
    const settle = (): void => { if (counted) { counted = false; unauthenticated-- } }
    let identity: Identity | undefined
    let login = ''
    let failures = 0
    const timer = setTimeout(() => {
      if (identity !== undefined) return
      client.end()
      socket?.destroy()
    }, opts.authTimeoutMs ?? 30_000)
    timer.unref()

    client.on('close', () => {
      clearTimeout(timer)
      settle()
      if (identity === undefined && failures > 0) log.info('ssh login failed', { from, login, attempts: failures })
    })

    client.on('authentication', ctx => {
      const refuse = (): void => {
        failures++
        if (failures >= MAX_AUTH_FAILURES) { ctx.reject(); client.end(); return }
        ctx.reject(METHODS)
      }
      const accept = (id: Identity): void => { identity = id; login = ctx.username; ctx.accept() }
      try {
        login = ctx.username
        switch (ctx.method) {
          case 'password': {
            const id = byToken(ctx.password)
            if (id === undefined) refuse(); else accept(id)
            return
          }
          case 'keyboard-interactive':
            ctx.prompt([{ prompt: 'dstack token: ', echo: false }], 'dstack', 'Log in with your dstack token.', answers => {
              const id = answers.length === 1 ? byToken(answers[0]!) : undefined
              if (id === undefined) refuse(); else accept(id)
            })
            return
          case 'publickey': {
            const id = byKey(ctx)
            if (id === 'probe') { ctx.accept(); return }
            if (id === undefined) refuse(); else accept(id)
            return
          }
          default:
            // `none` is how a client asks which methods there are: not a failure.
            ctx.reject(METHODS)
        }
      } catch (err) {
        log.warn('ssh: authentication failed on an error', { from, error: (err as Error).message })
        refuse()
      }
    })

    client.on('ready', () => {
      clearTimeout(timer)
      settle()
      const id = identity!
      log.info('ssh login', { from, login, ...(id.key !== undefined ? { key: id.key.fingerprint, user: id.key.user } : {}) })
      client.on('session', accept => {
        const session = accept()
        serveSessionChannel(session, {
          target: () => targetOf(login, id),
          jobs: opts.jobs,
          api: channel => serveApi(channel, id),
          log
        })
      })
      client.on('tcpip', (accept, reject, dest) => {
        const to = targetOf(login, id)
        if (!('target' in to)) { log.info('ssh: port forward refused', { from, login, port: dest.destPort, why: 'none' in to ? to.none : to.refused }); reject(); return }
        opts.jobs.forward(to.target, dest.destPort).then(pipe => {
          pipe.on('error', () => {})
          if (live.has(client) === false) { pipe.destroy(); return }
          const channel = accept()
          channel.on('error', () => {})
          channel.on('close', () => pipe.destroy())
          pipe.on('close', () => channel.destroy())
          channel.pipe(pipe).pipe(channel)
        }, err => {
          log.info('ssh: port forward failed', { from, login, port: dest.destPort, error: (err as Error).message })
          reject()
        })
      })
      // Remote forwards (tcpip-forward) and other global requests: none served.
      client.on('request', (_accept, reject) => { reject?.() })
    })
  }

  const server = new Server({ hostKeys: [opts.hostKey.private], ident: 'dstackd' }, (client, info) => {
    try {
      onClient(client, info)
    } catch (err) {
      log.warn('ssh: connection failed to set up', { error: (err as Error).message })
      client.end()
    }
  })
  server.on('error', (err: Error) => log.warn('ssh server error', { error: err.message }))

  const host = opts.host ?? '0.0.0.0'
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new Error(err.code === 'EADDRINUSE' ? `cannot listen for SSH on ${host}:${opts.port}: the port is in use (--ssh-port N picks another, 0 a free one)` : `cannot listen for SSH on ${host}:${opts.port}: ${err.message}`))
    }
    server.once('error', onError)
    server.listen(opts.port, host, () => {
      server.off('error', onError)
      resolve((server.address() as { port: number }).port)
    })
  })

  let closing: Promise<void> | undefined
  return {
    port,
    hostKey: opts.hostKey.public,
    connections: () => live.size,
    close () {
      closing ??= (async () => {
        const stopped = new Promise<void>(resolve => server.close(() => resolve()))
        await Promise.all([...sessions].map(s => s.close()))
        for (const client of live) {
          client.end()
          ;(client as unknown as { _sock?: Socket })._sock?.destroy()
        }
        await stopped
      })()
      return closing
    }
  }
}
