// Helpers for the SSH gateway's tests: the stock OpenSSH client run as a user would run it, and
// ssh2's Client for what OpenSSH cannot do without a terminal (a password, the dstack-api
// subsystem, signals and window changes on demand).
import { spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import type { ClientChannel, ConnectConfig } from 'ssh2'
import { openSession } from '../../../mesh/rpc/client.ts'
import { duplexTransport } from '../../../mesh/rpc/transport.ts'
import type { ApiClient } from '../../../daemon/api/client.ts'
import type { ClientMethods } from '../../../daemon/api/methods.ts'

const { Client } = ssh2

export interface KeyPair { path: string, pub: string }

/** A fresh ed25519 key pair made by ssh-keygen (no passphrase). */
export async function newKey (dir?: string, name = 'id_ed25519'): Promise<KeyPair> {
  const where = dir ?? await mkdtemp(join(tmpdir(), 'dstackd-sshkey-'))
  const path = join(where, name)
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', path])
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  return { path, pub: (await readFile(`${path}.pub`, 'utf8')).trim() }
}

export interface Ran { code: number | null, stdout: string, stderr: string }

/** Runs a command to its end (or until `signal` aborts it: then it is sent SIGTERM). */
export function run (cmd: string, args: string[], opts: { input?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env })
    opts.signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * OpenSSH's options for a test: no user config, no agent, keys only from -i, the host key
 * pinned in `knownHosts` under one alias whatever the port (`extra` come first: they win).
 */
export function sshOptions (port: number, knownHosts: string, key?: string, extra: string[] = []): string[] {
  return [
    ...extra, '-F', '/dev/null', '-o', 'HostKeyAlias=dstackd-under-test', '-o', 'LogLevel=ERROR', '-p', String(port), '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=accept-new', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'ConnectTimeout=20',
    ...(key !== undefined ? ['-i', key] : ['-o', 'PubkeyAuthentication=no'])
  ]
}

/** `ssh LOGIN@127.0.0.1 ARGS…` with the stock client. */
export function ssh (port: number, knownHosts: string, key: string | undefined, login: string, args: string[], opts: { input?: string, options?: string[] } = {}): Promise<Ran> {
  return run('ssh', [...sshOptions(port, knownHosts, key, opts.options), `${login}@127.0.0.1`, ...args], opts)
}

/** An ssh2 Client connected and authenticated (or the error its connection ended with). */
export function connect (config: ConnectConfig, keyboard?: string): Promise<InstanceType<typeof Client>> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    // keyboard-interactive: every prompt answered with `keyboard`.
    if (keyboard !== undefined) client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => keyboard)))
    client.on('ready', () => resolve(client))
    client.on('error', reject)
    client.connect({ host: '127.0.0.1', readyTimeout: 20_000, ...(keyboard !== undefined ? { tryKeyboard: true } : {}), ...config })
  })
}

/** The `dstack-api` subsystem of an authenticated connection, as an API client with this frame token and project. */
export async function apiOver (client: InstanceType<typeof Client>, token: string, project?: string): Promise<ApiClient> {
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    client.subsys('dstack-api', (err, ch) => { if (err) reject(err); else resolve(ch) })
  })
  return await openSession<ClientMethods>(duplexTransport(channel, 'ssh'), { token, project, timeoutMs: 10_000, remote: 'the gateway' })
}

/** Runs a command over an ssh2 connection: its output and exit. */
export function execOver (client: InstanceType<typeof Client>, command: string, opts: { pty?: boolean } = {}): Promise<{ stdout: string, stderr: string, code?: number, signal?: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, opts.pty === true ? { pty: { cols: 80, rows: 24, term: 'xterm' } } : {}, (err, ch) => {
      if (err) { reject(err); return }
      let stdout = ''
      let stderr = ''
      let code: number | undefined
      let signal: string | undefined
      ch.on('data', (b: Buffer) => { stdout += b })
      ch.stderr.on('data', (b: Buffer) => { stderr += b })
      ch.on('exit', (c: number | null, s?: string) => { if (c !== null) code = c; if (s) signal = s })
      ch.on('close', () => resolve({ stdout, stderr, code, signal }))
    })
  })
}

/** Resolves when `p` rejects with a message matching `re`; fails the test otherwise. */
export async function rejects (p: Promise<unknown>, re: RegExp): Promise<void> {
  let outcome: unknown
  try {
    outcome = await p
  } catch (err) {
    if (!re.test((err as Error).message)) throw new Error(`expected a rejection matching ${re}, got: ${(err as Error).message}`)
    return
  }
  throw new Error(`expected a rejection matching ${re}, got a result: ${String(outcome).slice(0, 200)}`)
}
