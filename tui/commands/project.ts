// `dstack project [list|add|delete|set-default]`: the projects of ~/.dstack/config.yml (dstack's
// format: `projects: [{name, url, token, default}]`). A project itself is made in the mesh by
// its admin (`dstackd project add NAME`); `add` here checks the token reaches it, then records it.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { ServerInfo } from '../../daemon/api/views.ts'
import { configPath, openClient, readProjects, type GlobalOptions, type Project } from '../connect.ts'
import { isSshUrl } from '../remote/url.ts'
import { confirm, table } from '../format.ts'
import { defaultProject, projectListing } from '../listings.ts'
import { parseFlags, UsageError } from '../flags.ts'

export const HELP = `Usage: dstack project [list [-v] [--json] | add | delete | set-default NAME]

The projects this client knows, in ~/.dstack/config.yml. A project is made in the mesh by an
admin: \`dstackd project add NAME\` on one of its hosts, and its users by \`dstackd user add\`.

  list [-v] [--json]                       PROJECT URL [USER] DEFAULT (the default command)
  add --name NAME --url URL --token TOKEN [-y | -n]
                                           record a project after checking the token reaches
                                           it; -y also makes it the default, -n never does;
                                           URL: a node's socket, or ssh://host[:port] (its
                                           SSH gateway, port 10022 by default)
  delete --name NAME [-y]                  forget a project (it stays in the mesh)
  set-default NAME                         the project commands use without --project`

export async function project (argv: string[], g: GlobalOptions): Promise<number> {
  const [verb = 'list', ...rest] = argv[0]?.startsWith('-') === true && argv[0] !== '-h' && argv[0] !== '--help' ? ['list', ...argv] : argv
  if (verb === '-h' || verb === '--help') { console.log(HELP); return 0 }
  const { values: v, positionals } = parseFlags(rest, {
    name: { type: 'string' }, yes: { type: 'boolean', short: 'y' }, no: { type: 'boolean', short: 'n' },
    verbose: { type: 'boolean', short: 'v' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
  }, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  const projects = await readProjects()
  switch (verb) {
    case 'list': return await list(projects, v.verbose === true, v.json === true)
    case 'add': {
      // --url and --token are the global options' (tui/main.ts takes them out wherever they stand).
      if (v.name === undefined || g.url === undefined || g.token === undefined) throw new UsageError('add needs --name NAME --url URL --token TOKEN')
      return await add(projects, { name: v.name, url: g.url, token: g.token }, v.yes === true, v.no === true)
    }
    case 'delete': {
      if (v.name === undefined) throw new UsageError('delete needs --name NAME')
      if (!projects.some(p => p.name === v.name)) throw new Error(`Project '${v.name}' not found in ${configPath()}`)
      if (v.yes !== true && !(await confirm(`Are you sure you want to delete project '${v.name}'?`))) return 1
      await save(projects.filter(p => p.name !== v.name))
      console.log('OK')
      return 0
    }
    case 'set-default': {
      const name = positionals[0] ?? v.name
      if (name === undefined) throw new UsageError('which project? Usage: dstack project set-default NAME')
      if (!projects.some(p => p.name === name)) throw new Error(`Project '${name}' not found in ${configPath()}`)
      await save(projects.map(p => ({ ...p, default: p.name === name })))
      console.log('OK')
      return 0
    }
    default:
      throw new UsageError(`unknown command "${verb}" (expected list, add, delete or set-default)`)
  }
}

async function list (projects: Project[], verbose: boolean, json: boolean): Promise<number> {
  const def = defaultProject(projects)
  const users = verbose ? await Promise.all(projects.map(async p => await userOf(p).catch(() => '(invalid token)'))) : []
  if (json) {
    // Never the tokens: a listing is something people paste.
    console.log(JSON.stringify(projects.map((p, i) => ({ name: p.name, url: p.url, default: p === def, ...(verbose ? { user: users[i] } : {}) })), null, 2))
    return 0
  }
  const l = projectListing(projects, verbose ? users : undefined)
  console.log(table(l.headers, l.rows))
  return 0
}

/** The user a project's token names, asking the daemon (which also checks the membership). */
async function userOf (p: Pick<Project, 'name' | 'url' | 'token'>): Promise<string> {
  return (await infoOf(p)).user
}

async function infoOf (p: Pick<Project, 'name' | 'url' | 'token'>): Promise<ServerInfo> {
  const client = await openClient({ url: p.url, token: p.token, project: p.name, timeoutMs: 5000 })
  try {
    return await client.call('server.info')
  } finally {
    await client.close()
  }
}

async function add (projects: Project[], entry: Omit<Project, 'default'>, yes: boolean, no: boolean): Promise<number> {
  let info: ServerInfo
  try {
    info = await infoOf(entry)
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code === 'unauthenticated') throw new Error(`Forbidden. Ensure the token is valid (the daemon at ${entry.url} refused it).`)
    throw new Error(e.message)
  }
  // Over SSH, the other members' gateways too: the client falls back to them (tui/remote/).
  const nodes = isSshUrl(entry.url) ? info.cluster.peers.flatMap(p => typeof p.ssh === 'string' ? [p.ssh] : []) : []
  if (nodes.length > 0) entry = { ...entry, nodes }
  const def = defaultProject(projects)
  const same = def !== undefined && def.name === entry.name && def.url === entry.url && def.token === entry.token && JSON.stringify(def.nodes) === JSON.stringify(entry.nodes)
  if (!same) {
    const makeDefault = no ? false : yes || def === undefined || await confirm(`Set '${entry.name}' as your default project?`)
    const others = projects.filter(p => p.name !== entry.name).map(p => makeDefault ? { ...p, default: false } : p)
    const old = projects.find(p => p.name === entry.name)
    await save([...others, { ...entry, default: makeDefault || (old?.default === true && !no) }])
  }
  console.log(`Configuration updated at ${configPath()}`)
  return 0
}

/** Writes the projects back, keeping whatever else the file holds; private (it holds tokens). */
async function save (projects: Project[]): Promise<void> {
  const { parse, stringify } = await import('yaml')
  const path = configPath()
  const text = await readFile(path, 'utf8').catch(() => '')
  const doc = (text.trim() === '' ? {} : parse(text)) as Record<string, unknown> | null
  const out = { ...(doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc : {}), projects }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFile(path, stringify(out), { mode: 0o600 })
  await chmod(path, 0o600)
}
