// One SSH connection per host with ssh2's Client: key auth only, through a bastion when the
// host names one (`proxy_jump`: a direct-tcpip channel from the bastion is the socket of the
// inner connection), with errors that say which hop failed and why.
import ssh2 from 'ssh2'
import type { Client as ClientType } from 'ssh2'
import { HostError, hostLabel, type SshEndpoint, type SshTarget } from './types.ts'

const { Client } = ssh2

/** An open connection and what to close when done (the bastion's too). */
export interface Connection {
  client: ClientType
  close (): void
}

/** Why a connection failed, in words with the fix. */
function explain (e: SshEndpoint, err: Error & { code?: string, level?: string }): string {
  const where = `${e.hostname}:${e.port}`
  if (err.level === 'client-authentication') return `the key was refused for user ${e.user} — add its public key to ~${e.user}/.ssh/authorized_keys on the host, or set the right identity_file`
  if (err.code === 'ECONNREFUSED') return `nothing listens for SSH on ${where} — start sshd there, or set the right port`
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.level === 'client-timeout' || err.code === 'ETIMEDOUT') return `${where} is unreachable (${err.code ?? 'timed out'}) — check the address, the network, or use proxy_jump`
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${e.hostname} does not resolve — check the hostname`
  if (/privateKey|parse/i.test(err.message)) return `the identity_file for ${e.user}@${e.hostname} cannot be read as a private key (${err.message}) — give an unencrypted OpenSSH or PEM key`
  return `SSH to ${where} failed: ${err.message}`
}

function open (e: SshEndpoint, timeoutMs: number, sock?: NodeJS.ReadableStream & NodeJS.WritableStream): Promise<ClientType> {
  return new Promise((resolve, reject) => {
    const c = new Client()
    const fail = (err: Error) => { c.end(); reject(new HostError(hostLabel(e), explain(e, err))) }
    c.once('ready', () => { c.removeListener('error', fail); c.on('error', () => {}); resolve(c) })
    c.once('error', fail)
    try {
      c.connect({ host: e.hostname, port: e.port, username: e.user, privateKey: e.privateKey, readyTimeout: timeoutMs, ...(sock ? { sock: sock as never } : {}) })
    } catch (err) {
      fail(err as Error)
    }
  })
}

/** Connects to the target, through its bastion when it has one. */
export async function connectHost (t: SshTarget, timeoutMs = 15_000): Promise<Connection> {
  if (t.proxyJump === null) {
    const client = await open(t, timeoutMs)
    return { client, close: () => client.end() }
  }
  const bastion = await open(t.proxyJump, timeoutMs)
  try {
    const channel = await new Promise<NodeJS.ReadableStream & NodeJS.WritableStream>((resolve, reject) => {
      bastion.forwardOut('127.0.0.1', 0, t.hostname, t.port, (err, ch) => err
        ? reject(new HostError(hostLabel(t), `the bastion ${hostLabel(t.proxyJump!)} cannot reach ${t.hostname}:${t.port} (${err.message}) — check the address from the bastion, and AllowTcpForwarding there`))
        : resolve(ch))
    })
    const client = await open(t, timeoutMs, channel)
    return { client, close: () => { client.end(); bastion.end() } }
  } catch (err) {
    bastion.end()
    throw err
  }
}

export interface ExecResult { code: number, stdout: string, stderr: string }

/** Runs a shell command on the host to its end. */
export function exec (c: ClientType, command: string, stdin?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err)
      let stdout = ''
      let stderr = ''
      stream.on('data', (b: Buffer) => { stdout += b })
      stream.stderr.on('data', (b: Buffer) => { stderr += b })
      stream.on('close', (code: number | null) => resolve({ code: code ?? 255, stdout, stderr }))
      if (stdin !== undefined) stream.end(stdin)
      else stream.end()
    })
  })
}
