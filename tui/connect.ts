// Which daemon a command talks to, and with what token (DESIGN.md, "Processes and how they
// talk"): --url/--token/--project, then DSTACK_URL/DSTACK_TOKEN/DSTACK_PROJECT, then
// ~/.dstack/config.yml. A URL is this host's daemon socket, or `ssh://[user@]host[:port]`: a
// node's SSH gateway (tui/remote/, loaded only then: ssh2 costs a local command nothing). With
// nothing configured and no local daemon answering, a local dstackd is started in the
// background and the config written, so `dstack apply` works right away.
import { closeSync, openSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApiError, connectApi, type ApiClient } from '../daemon/api/client.ts'
import { logPathOf, socketPathOf, socketPathProblem } from '../daemon/datadir.ts'
import { isSshUrl } from './remote/url.ts'

export interface GlobalOptions {
  url?: string
  token?: string
  project?: string
}

export interface Project {
  name: string
  url: string
  token: string
  default?: boolean
  /**
   * Beyond dstack's format: the project's other nodes (ssh:// URLs of their gateways), which a
   * remote client falls back to when `url` is lost; `dstack project add` records them.
   */
  nodes?: string[]
}

export function configPath (): string {
  return join(homedir(), '.dstack', 'config.yml')
}

export function defaultDataDir (): string {
  return process.env.DSTACKD_DATA_DIR ?? join(homedir(), '.dstack', 'dstackd')
}

export async function readProjects (): Promise<Project[]> {
  let text: string
  try {
    text = await readFile(configPath(), 'utf8')
  } catch {
    return []
  }
  const { parse } = await import('yaml')
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new Error(`${configPath()} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  const projects = (doc as { projects?: unknown })?.projects
  if (!Array.isArray(projects)) return []
  return projects.filter((p): p is Project => typeof p?.name === 'string' && typeof p?.url === 'string' && typeof p?.token === 'string')
    .map(p => Array.isArray(p.nodes) ? { ...p, nodes: p.nodes.filter((n): n is string => typeof n === 'string' && isSshUrl(n)) } : p)
}

export interface Target {
  url: string
  token: string
  project?: string
  /** ssh:// only: the nodes to fall back to. */
  nodes?: string[]
  timeoutMs?: number
  /** The first call goes out with the token (one round trip less); a refused token fails it. */
  pipeline?: boolean
}

/** A session with the daemon at `url`: this host's socket, or a node's SSH gateway. */
export async function openClient (t: Target): Promise<ApiClient> {
  if (isSshUrl(t.url)) {
    const { connectRemote } = await import('./remote/client.ts')
    return await connectRemote({ urls: [t.url, ...t.nodes ?? []], token: t.token, project: t.project, timeoutMs: t.timeoutMs })
  }
  return await connectApi({
    socketPath: t.url, token: t.token, project: t.project, timeoutMs: t.timeoutMs, pipeline: t.pipeline, refused: `the daemon at ${t.url} refused the token: pass --token or set DSTACK_TOKEN`
  })
}

async function writeDefaultProject (socketPath: string, token: string): Promise<void> {
  const projects = await readProjects().catch(() => [])
  if (projects.some(p => p.url === socketPath)) return
  const { stringify } = await import('yaml')
  const entry = { name: 'main', url: socketPath, token, default: projects.length === 0 }
  await mkdir(dirname(configPath()), { recursive: true })
  await writeFile(configPath(), stringify({ projects: [...projects, entry] }), { mode: 0o600 })
  await chmod(configPath(), 0o600)
}

/** A token kept beside a local socket (DIR/token), readable by the same user. */
async function localToken (socketPath: string): Promise<string | undefined> {
  return readFile(join(dirname(socketPath), 'token'), 'utf8').then(t => t.trim(), () => undefined)
}

/** The error a daemon that could not start logged last, from its log. */
async function startError (logPath: string): Promise<string | undefined> {
  const text = await readFile(logPath, 'utf8').catch(() => '')
  for (const line of text.trimEnd().split('\n').reverse().slice(0, 50)) {
    try {
      const entry = JSON.parse(line) as { level?: string, msg?: string, error?: string }
      if (entry.level === 'error' && typeof entry.error === 'string') return entry.error
    } catch { /* not one of the daemon's lines (Node's own, on stderr) */ }
  }
  return undefined
}

/**
 * Starts `dstackd run` for DIR in the background and waits for it to answer. It logs to
 * DIR/dstackd.log itself (rotated by size); what Node prints on stderr goes there too.
 */
async function startLocalDaemon (dataDir: string): Promise<void> {
  const problem = socketPathProblem(dataDir)
  if (problem !== undefined) throw new Error(`cannot start a local dstackd: ${problem}`)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const bin = fileURLToPath(new URL('../daemon/bin.js', import.meta.url))
  const logPath = logPathOf(dataDir)
  const socketPath = socketPathOf(dataDir)
  const err = openSync(logPath, 'a', 0o600)
  const { spawn } = await import('node:child_process') // only here: see tui/code.ts
  const child = spawn(process.execPath, [bin, 'run', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-file', logPath], { detached: true, stdio: ['ignore', 'ignore', err], env: process.env })
  child.unref()
  closeSync(err)
  const deadline = Date.now() + 30_000
  let exited: number | null = null
  child.once('exit', code => { exited = code ?? 1 })
  while (Date.now() < deadline) {
    if (exited !== null) {
      const why = await startError(logPath)
      throw new Error(`the local dstackd could not start${why === undefined ? ` (exit code ${exited})` : `: ${why}`}; see ${logPath}`)
    }
    const token = await localToken(socketPath)
    if (token) {
      try {
        const c = await connectApi({ socketPath, token, timeoutMs: 1000 })
        await c.close()
        process.stderr.write(`Started a local dstackd (data in ${dataDir}, log in ${logPath}; \`dstackd stop\` stops it)\n`)
        return
      } catch { /* not yet */ }
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`the local dstackd did not answer within 30 s; see ${logPath}`)
}

const urls = new WeakMap<ApiClient, string>()

/** The URL (socket path or ssh://) a client from `connect` talks to. */
export function urlOf (client: ApiClient): string {
  const url = urls.get(client)
  if (url === undefined) throw new Error('this client did not come from connect()')
  return url
}

export async function connect (g: GlobalOptions): Promise<ApiClient> {
  const wanted = g.project ?? process.env.DSTACK_PROJECT
  let url = g.url ?? process.env.DSTACK_URL
  let token = g.token ?? process.env.DSTACK_TOKEN
  // The project every call is for (the daemon refuses the projects the token's user is not in).
  let projectName = wanted
  let nodes: string[] | undefined
  if (!url) {
    const projects = await readProjects()
    const project = wanted ? projects.find(p => p.name === wanted) : projects.find(p => p.default) ?? projects[0]
    if (wanted && !project) throw new Error(`project ${wanted} is not in ${configPath()}`)
    if (project) { url = project.url; token ??= project.token; projectName ??= project.name; nodes = project.nodes }
  }
  const dataDir = defaultDataDir()
  const defaultSocket = socketPathOf(dataDir)
  url ??= defaultSocket
  if (/^https?:\/\//i.test(url)) {
    const from = g.url ? '--url' : process.env.DSTACK_URL ? 'DSTACK_URL' : configPath()
    throw new Error(`${url} (from ${from}) is a dstack server's URL: this client talks to a dstackd node instead, through its socket (a path such as ${defaultSocket}) or its SSH gateway (ssh://host:10022)`)
  }
  if (url.startsWith('/ip4/') || url.startsWith('/ip6/') || url.startsWith('/dns')) {
    throw new Error(`${url} is a mesh address: only dstackd hosts speak the mesh (a client would need its swarm key); use the node's SSH gateway instead (ssh://host:10022, with your token)`)
  }
  if (isSshUrl(url)) {
    if (token === undefined) throw new Error(`${url} is a remote node: give your token with --token, DSTACK_TOKEN or \`dstack project add\``)
    const client = await openClient({ url, token, project: projectName, nodes, timeoutMs: 10_000 })
    urls.set(client, url)
    return client
  }
  token ??= await localToken(url)
  const attempt = async () => {
    const client = await openClient({ url: url!, token: token ?? '', project: projectName, timeoutMs: 5000, pipeline: true })
    urls.set(client, url!)
    return client
  }
  try {
    return await attempt()
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'unavailable' || url !== defaultSocket) throw err
  }
  await startLocalDaemon(dataDir)
  token = await localToken(url)
  await writeDefaultProject(url, token ?? '')
  return await attempt()
}
