// Test-only stand-ins on loopback for what a remote client meets on the network: an SSH
// server that authenticates one token and pipes the `dstack-api` subsystem to a real daemon's
// Unix socket (the daemon still checks the token in the API's own handshake), and a TCP proxy
// that a test can cut and restore to drop a client's connection mid-stream.
import ssh2 from 'ssh2'
import net from 'node:net'

export interface TestGateway {
  port: number
  /** The host key's public half, as OpenSSH writes it (`ssh-ed25519 AAAA…`). */
  publicKey: string
  close (): Promise<void>
}

export interface GatewayOptions {
  socketPath: string
  token: string
  /** Listen here (default: a free port). */
  port?: number
  /** Keep this host key (an OpenSSH private key), e.g. to restart the same gateway. */
  hostKey?: string
  /** Refuse the dstack-api subsystem, as an SSH server that is not dstackd's does. */
  noApi?: boolean
}

export async function startTestGateway (opts: GatewayOptions): Promise<TestGateway & { hostKey: string }> {
  const keys = opts.hostKey === undefined ? ssh2.utils.generateKeyPairSync('ed25519') : undefined
  const hostKey = opts.hostKey ?? keys!.private
  const parsed = ssh2.utils.parseKey(hostKey)
  if (parsed instanceof Error) throw parsed
  const key = Array.isArray(parsed) ? parsed[0]! : parsed
  const publicKey = `${key.type} ${key.getPublicSSH().toString('base64')}`
  const open = new Set<net.Socket | { end (): void }>()
  const server = new ssh2.Server({ hostKeys: [hostKey] }, client => {
    open.add(client)
    client.on('close', () => open.delete(client))
    client.on('error', () => undefined)
    client.on('authentication', ctx => {
      if (ctx.method === 'password') return ctx.password === opts.token ? ctx.accept() : ctx.reject(['password', 'keyboard-interactive'])
      if (ctx.method === 'keyboard-interactive') return ctx.prompt([{ prompt: 'Token: ', echo: false }], answers => answers[0] === opts.token ? ctx.accept() : ctx.reject())
      ctx.reject(['password', 'keyboard-interactive'])
    })
    client.on('ready', () => {
      client.on('session', accept => {
        const session = accept()
        session.on('subsystem', (acceptSub, rejectSub, info) => {
          if (info.name !== 'dstack-api' || opts.noApi === true) { rejectSub(); return }
          const channel = acceptSub()
          const socket = net.connect(opts.socketPath)
          socket.on('error', () => channel.destroy())
          channel.on('error', () => socket.destroy())
          channel.pipe(socket).pipe(channel)
        })
      })
    })
  })
  await new Promise<void>(resolve => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    publicKey,
    hostKey,
    async close () {
      for (const c of open) c.end()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

export interface TestProxy {
  port: number
  /** Drops every connection and stops listening. */
  cut (): Promise<void>
  /** Listens again on the same port. */
  restore (): Promise<void>
  close (): Promise<void>
}

/** A TCP proxy on loopback to `target`; `cut` drops every connection through it. */
export async function startTestProxy (target: number): Promise<TestProxy> {
  const sockets = new Set<net.Socket>()
  let server: net.Server | undefined
  let port = 0
  const listen = async (): Promise<void> => {
    server = net.createServer(inbound => {
      const outbound = net.connect(target, '127.0.0.1')
      for (const s of [inbound, outbound]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined) }
      inbound.pipe(outbound).pipe(inbound)
      inbound.on('close', () => outbound.destroy())
      outbound.on('close', () => inbound.destroy())
    })
    await new Promise<void>(resolve => server!.listen(port, '127.0.0.1', resolve))
    port = (server.address() as net.AddressInfo).port
  }
  const cut = async (): Promise<void> => {
    for (const s of sockets) s.destroy()
    if (server) await new Promise<void>(resolve => server!.close(() => resolve()))
    server = undefined
  }
  await listen()
  return { get port () { return port }, cut, restore: listen, close: cut }
}
