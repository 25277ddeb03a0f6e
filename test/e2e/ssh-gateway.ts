// Test-only stand-ins on loopback for what a remote client meets on the network: an SSH
// server that authenticates one token and pipes the `dstack-api` subsystem to a real daemon's
// Unix socket (the daemon still checks the token in the API's own handshake), and a TCP proxy
// that a test can cut and restore to drop a client's connection mid-stream; and the stream such
// a test follows across the cut: `dstack logs -f` of a task that counts.
import ssh2 from 'ssh2'
import net from 'node:net'
import { dstackChild } from './harness.ts'
import { waitFor } from '../poll.ts'

/** A task printing `line 1` … `line N`, one every 50 ms: output to follow across a cut. */
export function countingTask (name: string, n = 80): string {
  return `type: task\nname: ${name}\ncommands: ['for i in $(seq 1 ${n}); do echo line $i; sleep 0.05; done']\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n`
}

/** What a countingTask prints, line by line. */
export function countedLines (n = 80): string[] {
  return Array.from({ length: n }, (_, i) => `line ${i + 1}`)
}

export interface Following {
  out (): string
  err (): string
  /** The lines printed (without the terminal's \r). */
  lines (): string[]
  exited: Promise<number | null>
}

/** `dstack logs -f RUN` as a child with `env`, once it printed its first lines. */
export async function followLogs (env: NodeJS.ProcessEnv, run: string): Promise<Following> {
  const child = dstackChild({ env }, ['logs', '-f', run])
  let out = ''
  let err = ''
  child.stdout!.on('data', b => { out += b })
  child.stderr!.on('data', b => { err += b })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  await waitFor(() => /line 5\r?\n/.test(out), { what: `the first lines of ${run}` })
  return { out: () => out, err: () => err, lines: () => out.split(/\r?\n/).filter(Boolean), exited }
}

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
