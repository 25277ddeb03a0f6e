// Shared by the session suites: a real dstackd, and beside it in the test process a second
// member of its mesh (a libp2p node joined with the mesh's token) whose JobAccess reaches the
// daemon's jobs only through the relays, as another node's gateway would.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { startPortRelay } from '../../daemon/api/ports.ts'
import { createJobAccess } from '../../daemon/ssh/jobs.ts'
import { startExecRelay } from '../../daemon/ssh/relay.ts'
import type { JobAccess, JobProcess, JobTarget } from '../../daemon/ssh/types.ts'
import { createMesh, type Mesh } from '../../mesh/index.ts'
import { waitFor } from '../poll.ts'
import { dstackd, type Host } from './cluster.ts'
import { dstack, writeConfig, type Result } from './harness.ts'

export interface Member {
  mesh: Mesh
  access: JobAccess
  close (): Promise<void>
}

/** A mesh member in this process, joined to `host`'s mesh, with a JobAccess that has no jobs of its own. */
export async function joinAsMember (host: Host): Promise<Member> {
  const t = await dstackd(['token', '--data-dir', host.dataDir], host.env)
  if (t.code !== 0) throw new Error(`dstackd token: ${t.stderr}`)
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-member-'))
  const mesh = await createMesh({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], join: t.stdout.trim() })
  const peer = (await host.status()).peer_id
  await waitFor(() => mesh.peers().some(p => p.id === peer), { what: 'the member to connect to the daemon' })
  const none = () => { throw new Error('no job runs on the test member') }
  const exec = await startExecRelay({ mesh, local: async () => none() })
  const ports = await startPortRelay({ mesh, localPort: none })
  const access = createJobAccess({ self: mesh.peerId, local: async () => none(), relay: exec, connect: (n, s, p) => ports.connect(n, s, p) })
  return {
    mesh, access,
    async close () {
      await exec.close(); await ports.close(); await mesh.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** Applies `yaml` detached and waits for its job 0 to run: the JobTarget the gateway would resolve. */
export async function runningTarget (host: Host, work: string, name: string, yaml: string): Promise<JobTarget> {
  const file = await writeConfig(work, `${name}.dstack.yml`, `name: ${name}\n${yaml}`)
  const r = await dstack(host, ['apply', '-f', file, '-y', '-d'])
  if (r.code !== 0) throw new Error(`apply ${name}: ${r.stderr}${r.stdout}`)
  const node = (await host.status()).peer_id
  return await waitFor(async () => {
    const ps = await dstack(host, ['ps', '-a', '--json'])
    const run = (JSON.parse(ps.stdout).runs as Array<Record<string, any>>).find(x => x.name === name)
    const job = run?.jobs?.[0]
    if (job && ['failed', 'terminated', 'done'].includes(job.status)) throw new Error(`${name} ended: ${job.status} ${job.error ?? ''}`)
    return job?.status === 'running' ? { project: run!.project, run: name, job: job.submission_id, node, replica: 0, jobNum: 0 } : null
  }, { what: `${name} to run`, timeout: 120_000 })
}

export function collect (r: Readable | undefined): () => string {
  let out = ''
  r?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  return () => out
}

/** Runs `command` (no tty) to its end: output and exit. */
export async function run (access: JobAccess, target: JobTarget, command: string, input = ''): Promise<{ stdout: string, stderr: string, code: number | null, signal?: string }> {
  const p: JobProcess = await access.exec(target, { command })
  const out = collect(p.stdout)
  const err = collect(p.stderr)
  p.stdin.end(input)
  const exit = await p.exited
  return { stdout: out(), stderr: err(), ...exit }
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const port = (s.address() as { port: number }).port; s.close(() => resolve(port)) })
    s.on('error', reject)
  })
}

/** An HTTP GET through a forwarded byte stream: the response's first line. */
export async function httpGet (access: JobAccess, target: JobTarget, port: number): Promise<string> {
  const conn = await access.forward(target, port)
  const got = collect(conn)
  conn.write('GET / HTTP/1.0\r\nHost: localhost\r\n\r\n')
  await new Promise<void>((resolve, reject) => { conn.on('end', resolve); conn.on('close', resolve); conn.on('error', reject) })
  conn.destroy()
  return got().split('\r\n')[0] ?? ''
}

/** Runs a program to its end (ssh, scp, ssh-keygen). */
export function runProgram (cmd: string, args: string[], timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => { clearTimeout(t); resolve({ code, stdout, stderr }) })
  })
}

export interface StockSsh {
  /** `ssh -p PORT main/RUN@127.0.0.1 COMMAND` with the stock client. */
  ssh (command: string): Promise<Result>
  /** `scp -P PORT LOCAL main/RUN@127.0.0.1:REMOTE`. */
  scp (local: string, remote: string): Promise<Result>
}

/** The stock OpenSSH client as the admin (a key made here, registered through `host`), into RUN through the gateway on `port`. */
export async function stockSsh (host: Host, work: string, run: string, port: number): Promise<StockSsh> {
  const key = join(work, 'id_ed25519')
  const k = await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
  if (k.code !== 0) throw new Error(`ssh-keygen: ${k.stderr}`)
  const added = await dstackd(['user', 'add-key', 'admin', `${key}.pub`, '--data-dir', host.dataDir], host.env)
  if (added.code !== 0) throw new Error(`dstackd user add-key: ${added.stderr}${added.stdout}`)
  const options = ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', `User=main/${run}`]
  return {
    ssh: command => runProgram('ssh', [...options, '-p', String(port), '127.0.0.1', command]),
    scp: (local, remote) => runProgram('scp', [...options, '-P', String(port), local, `127.0.0.1:${remote}`])
  }
}

/** The port `host`'s SSH gateway listens on, as its log says. */
export function gatewayPort (host: Host): number {
  const port = /"ssh gateway listening"[^\n]*"port":(\d+)/.exec(host.log())?.[1]
  if (port === undefined) throw new Error('the daemon runs no SSH gateway (start it with --ssh-port 0)')
  return Number(port)
}
