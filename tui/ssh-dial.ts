// A job's ports through a node's SSH gateway (direct-tcpip), for a client that reaches the node
// over ssh:// and so cannot use the node's loopback relay (`jobs.forward`). It logs in as the
// job (`PROJECT/RUN[-R-J]`) with the client key, and accepts only the host key pinned in
// ~/.dstack/known_hosts.
import { readFile } from 'node:fs/promises'
import type { Duplex } from 'node:stream'
import type { Dial } from './forward.ts'
import { knownHostName, knownHostsPath } from './ssh-config.ts'
import { clientKeyPath, type Gateway } from './ssh-entries.ts'

/** The key blob (base64) pinned for host:port, or undefined. */
async function pinnedKey (host: string, port: number): Promise<string | undefined> {
  const name = knownHostName(host, port)
  const text = await readFile(knownHostsPath(), 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const [names, , blob] = line.trim().split(/\s+/)
    if (names?.split(',').includes(name) && blob !== undefined) return blob
  }
  return undefined
}

/** Connects to the gateway as `login`; every dial is a direct-tcpip channel to a port of that job. Closed when `signal` aborts. */
export async function gatewayDialer (gateway: Gateway, login: string, signal: AbortSignal): Promise<Dial> {
  const { default: ssh2 } = await import('ssh2')
  const pinned = await pinnedKey(gateway.host, gateway.port)
  if (pinned === undefined) throw new Error(`no host key of ${knownHostName(gateway.host, gateway.port)} in ${knownHostsPath()}: connect with dstack once to pin it`)
  const privateKey = await readFile(clientKeyPath())
  const conn = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', () => { conn.off('error', reject); resolve() })
    conn.once('error', reject)
    conn.connect({
      host: gateway.host,
      port: gateway.port,
      username: login,
      privateKey,
      readyTimeout: 20_000,
      hostVerifier: (key: Buffer) => key.toString('base64') === pinned
    })
  })
  conn.on('error', () => {})
  if (signal.aborted) conn.end()
  else signal.addEventListener('abort', () => conn.end(), { once: true })
  return port => new Promise<Duplex>((resolve, reject) => {
    conn.forwardOut('127.0.0.1', 0, 'localhost', port, (err, channel) => err ? reject(err) : resolve(channel))
  })
}
