// Real processes for end-to-end tests: a dstackd with its own data dir and HOME, and the
// `dstack` CLI run as a user would run it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectApi, type ApiClient } from '../../daemon/api/client.ts'
import { waitFor } from '../poll.ts'


/**
 * A folder in `parent` (a test's temporary dir) that a job can write to: a root dstackd runs
 * jobs as an unprivileged user, which cannot enter a 0700 temporary dir.
 */
export async function jobWritableDir (parent: string, name = 'shared'): Promise<string> {
  const dir = join(parent, name)
  await mkdir(dir, { recursive: true, mode: 0o777 })
  await chmod(dir, 0o777)
  await chmod(parent, 0o711)
  return dir
}
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DSTACKD = join(ROOT, 'daemon', 'bin.js')
const DSTACK = join(ROOT, 'tui', 'bin.js')

export interface Result {
  code: number | null
  stdout: string
  stderr: string
  /** It ran past `timeoutMs` and was killed (code is then null). */
  timedOut?: boolean
}

export interface Daemon {
  home: string
  dataDir: string
  env: NodeJS.ProcessEnv
  process: ChildProcess
  /** The daemon's stdout so far (JSON log lines). */
  log (): string
  /** Where its job directories are (outside the data dir), as its log says. */
  jobsDir (): string
  start (): Promise<void>
  kill9 (): Promise<void>
  stop (): Promise<void>
  cleanup (): Promise<void>
}

/** A client of the daemon's socket API, with the admin token from its data dir (as `dstack` finds it). */
export async function apiClient (d: { dataDir: string }, timeoutMs?: number): Promise<ApiClient> {
  const token = (await readFile(join(d.dataDir, 'token'), 'utf8')).trim()
  return await connectApi({ socketPath: join(d.dataDir, 'api.sock'), token, timeoutMs })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

export async function newHome (): Promise<{ home: string, env: NodeJS.ProcessEnv }> {
  const home = await mkdtemp(join(tmpdir(), 'dstackd-e2e-'))
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: '1' }
  delete env.DSTACK_URL; delete env.DSTACK_TOKEN; delete env.DSTACK_PROJECT; delete env.DSTACKD_DATA_DIR
  return { home, env }
}

export interface DaemonOptions {
  /** The host's name (`--name`). Default e2e-host. */
  name?: string
  /** More `dstackd run` arguments: `--join TOKEN`, `--inventory FILE`, … */
  args?: string[]
  /** Wait for this in the daemon's log before `start()` resolves. Default 'dstackd ready'. */
  readyText?: string
  /** Where the mesh listens. Default /ip4/127.0.0.1/tcp/0. */
  listen?: string
  /** A command the daemon runs under, e.g. `ip netns exec ns1` for a host in a network namespace. */
  prefix?: string[]
}

export async function startDaemon (opts: DaemonOptions = {}): Promise<Daemon> {
  const { home, env } = await newHome()
  const dataDir = join(home, '.dstack', 'dstackd')
  let out = ''
  const d: Daemon = {
    home, dataDir, env, process: null as unknown as ChildProcess,
    log: () => out,
    jobsDir: () => /"jobsDir":"([^"]+)"/.exec(out)?.[1] ?? `${dataDir}-jobs`,
    async start () {
      const from = out.length
      const argv = [process.execPath, DSTACKD, 'run', '--data-dir', dataDir, '--name', opts.name ?? 'e2e-host', '--listen', opts.listen ?? '/ip4/127.0.0.1/tcp/0', ...(opts.args ?? [])]
      const [cmd, ...rest] = [...(opts.prefix ?? []), ...argv]
      const child = spawn(cmd!, rest, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout!.on('data', b => { out += b })
      child.stderr!.on('data', b => { out += b })
      d.process = child
      await waitFor(() => out.slice(from).includes(opts.readyText ?? 'dstackd ready'), { what: `dstackd ${opts.name ?? ''} to start`, timeout: 60_000 })
    },
    async kill9 () {
      const p = d.process
      const exited = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGKILL')
      await exited
    },
    async stop () {
      const p = d.process
      if (p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGTERM')
      await exited
    },
    async cleanup () {
      // Jobs outlive the daemon by design: abort the ones this test left before stopping it.
      if (d.process.exitCode === null && d.process.signalCode === null) {
        const active = async () => (await psJson(d)).runs.filter(r => !['done', 'failed', 'terminated'].includes(r.status)).map(r => r.name as string)
        const names = await active().catch(() => [])
        if (names.length > 0) {
          await dstack(d, ['stop', '-x', '-y', ...names])
          await waitFor(async () => (await active()).length === 0, { what: 'runs to end', timeout: 30_000 }).catch(() => undefined)
        }
      }
      await d.stop()
      // As root, job directories may be outside HOME (/var/lib/dstackd-jobs/…): the log says where.
      await rm(d.jobsDir(), { recursive: true, force: true }).catch(() => undefined)
      await rm(home, { recursive: true, force: true }).catch(() => undefined)
    }
  }
  await d.start()
  return d
}

/** Runs one of the bins (`tui/bin.js`, `daemon/bin.js`) to completion, collecting its output. */
export function runBin (bin: string, args: string[], opts: { env: NodeJS.ProcessEnv, cwd?: string, input?: string, timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: opts.env, cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, opts.timeoutMs)
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr, ...(timedOut ? { timedOut } : {}) }) })
    child.stdin.end(opts.input ?? '')
  })
}

/** Runs `dstack ARGS` against the daemon (its HOME, so it finds the local socket and token). */
export function dstack (d: { env: NodeJS.ProcessEnv }, args: string[], opts: { cwd?: string, input?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<Result> {
  return runBin(DSTACK, args, { env: { ...d.env, ...opts.env }, cwd: opts.cwd, input: opts.input, timeoutMs: opts.timeoutMs })
}

/** Spawns `dstack ARGS` and returns the child, for tests that interrupt it. */
export function dstackChild (d: { env: NodeJS.ProcessEnv }, args: string[], cwd = ROOT): ChildProcess {
  return spawn(process.execPath, [DSTACK, ...args], { env: d.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
}

export async function writeConfig (dir: string, name: string, yaml: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, yaml)
  return file
}

export async function psJson (d: Daemon): Promise<{ project: string, runs: Array<Record<string, any>> }> {
  const r = await dstack(d, ['ps', '-a', '--json'])
  if (r.code !== 0) throw new Error(`dstack ps failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

export async function runNamed (d: Daemon, name: string): Promise<Record<string, any> | undefined> {
  return (await psJson(d)).runs.find(r => r.name === name)
}

export { existsSync, readFile }
