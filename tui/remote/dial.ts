// The API of a remote node over its SSH gateway: an ssh2 connection authenticated by the
// user's token (password, or keyboard-interactive), the node's host key checked against
// ~/.dstack/known_hosts, and the `dstack-api` subsystem carrying the same RPC engine as the
// Unix socket. Loaded only for ssh:// URLs: ssh2 (inside the client bundle, see
// scripts/bundle-options.js) runs only then, and costs a local command's start nothing.
import ssh2 from 'ssh2'
import type { Dialer } from '../../daemon/api/client.ts'
import { RPC_ERRORS, RpcError } from '../../mesh/rpc/protocol.ts'
import { duplexTransport } from '../../mesh/rpc/transport.ts'
import { checkHostKey, fingerprint, HostKeyChanged, hostPattern, knownHostsPath } from './known-hosts.ts'
import type { SshUrl } from './url.ts'

export const API_SUBSYSTEM = 'dstack-api'

export interface SshDialOptions {
  token: string
  /** Told once when a host key is pinned for the first time (default: stderr). */
  notice?: (text: string) => void
  /** Seconds between keepalives; a link silent for 3 of them counts as lost. Default 5. */
  keepaliveSeconds?: number
}

export function sshDialer (url: SshUrl, opts: SshDialOptions): Dialer {
  const where = `the node at ${url.text}`
  const notice = opts.notice ?? (text => process.stderr.write(`${text}\n`))
  return {
    remote: where,
    open: async timeoutMs => await new Promise((resolve, reject) => {
      const conn = new ssh2.Client()
      let failure: Error | undefined
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        conn.end()
        reject(err)
      }
      conn.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => opts.token)))
      conn.on('error', (err: Error & { level?: string, code?: string }) => fail(failure ?? connectError(err, url, where)))
      conn.on('close', () => fail(failure ?? new RpcError(RPC_ERRORS.connectionClosed, `${where} closed the connection before the API opened`)))
      conn.on('ready', () => {
        conn.subsys(API_SUBSYSTEM, (err, channel) => {
          if (err) {
            fail(new RpcError('no_gateway_api', `${where} does not serve the dstack API over SSH (${err.message}): is it a dstackd of this version, and is ${url.port} its --ssh-port?`))
            return
          }
          settled = true
          channel.once('close', () => conn.end())
          const transport = duplexTransport(channel, url.text)
          resolve({ ...transport, destroy: e => { transport.destroy(e); conn.end() } })
        })
      })
      conn.connect({
        host: url.host,
        port: url.port,
        username: url.user,
        password: opts.token,
        tryKeyboard: true,
        // Straight to the token (ssh2 asks `none` first by default: a round trip for nothing).
        authHandler: ['password', 'keyboard-interactive'],
        readyTimeout: timeoutMs,
        keepaliveInterval: (opts.keepaliveSeconds ?? 5) * 1000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          checkHostKey(url.host, url.port, key).then(result => {
            if (result === 'pinned') notice(`Pinned the host key of ${hostPattern(url.host, url.port)} (${fingerprint(key)}) in ${knownHostsPath()}`)
            verify(true)
          }, (err: Error) => {
            failure = err instanceof HostKeyChanged ? new RpcError('host_key_changed', err.message) : new RpcError(RPC_ERRORS.unavailable, `cannot check the host key of ${where}: ${err.message}`)
            verify(false)
          })
        }
      })
      // Small packets each waiting for an answer: no Nagle (see daemon/ssh/gateway.ts).
      conn.setNoDelay(true)
    })
  }
}

function connectError (err: Error & { level?: string, code?: string }, url: SshUrl, where: string): RpcError {
  if (err.level === 'client-authentication') {
    return new RpcError(RPC_ERRORS.unauthenticated, `${where} refused the token (${err.message}): pass the right one with --token or DSTACK_TOKEN, or ask the project's admin for one (\`dstackd user rotate-token\`)`)
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new RpcError(RPC_ERRORS.unreachable, `nothing answers at ${url.host}:${url.port} (connection refused): is dstackd running there, with --ssh-port ${url.port}?`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RpcError(RPC_ERRORS.unreachable, `cannot resolve ${url.host} (${err.code}): check the host name in ${url.text}`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new RpcError(RPC_ERRORS.unreachable, `${url.host}:${url.port} is unreachable (${err.code}): check the address and that the network lets port ${url.port} through`)
  }
  if (err.level === 'client-timeout') return new RpcError(RPC_ERRORS.timeout, `${where} did not complete the SSH handshake in time: is ${url.port} an SSH gateway of dstackd?`)
  return new RpcError(RPC_ERRORS.unreachable, `cannot reach ${where}: ${err.message}`)
}
