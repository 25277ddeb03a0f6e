// `dstackd user …` and `dstackd project …`: users and projects of the mesh, managed through this
// host's dstackd with the admin token of its data dir (DIR/token).
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { ApiClient } from './api/client.ts'
import type { ProjectView, UserView } from './api/users.ts'

export const USERS_HELP = `Users and projects (through the dstackd of DIR, with its admin token):
  user add NAME [--project P --role admin|manager|user] [--global-role admin|user]
                          make a user (a member of P if given) and print its token, once
  user list [--json]      every user, with their projects and roles
  user delete NAME        the user and its token are gone at once, on every host
  user rotate-token NAME  a new token for the user; the old one stops working at once
  user add-key NAME FILE|-
                          register an SSH public key (one line, e.g. ~/.ssh/id_ed25519.pub;
                          - reads it from stdin): NAME logs in to the SSH gateway with it
  user keys NAME [--json] the SSH keys registered to NAME
  user delete-key NAME FINGERPRINT
                          the key (SHA256:…, as \`user keys\` shows it) no longer logs in
  project add NAME        make a project (its runs are its members' only)
  project list [--json]   every project, with its members
  project delete NAME     a project with no active runs
  project member PROJECT USER (--role admin|manager|user | --remove)
                          add a user to a project, change their role, or remove them
  Each takes --data-dir DIR.`

export interface LocalCaller {
  dataDirOf (value: string | undefined): string
  callLocal<T> (dataDir: string, ask: (client: ApiClient) => Promise<T>): Promise<T>
}

type Action = (client: ApiClient, positionals: string[], values: Record<string, string | boolean | undefined>) => Promise<string>

const ROLE_OPTIONS = { project: { type: 'string' }, role: { type: 'string' }, 'global-role': { type: 'string' }, remove: { type: 'boolean' } } as const

function usage (message: string): never {
  throw Object.assign(new Error(message), { usage: true })
}

function one (positionals: string[], what: string): string {
  if (positionals.length !== 1) usage(`expected one ${what}, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`)
  return positionals[0]!
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  return rows.map(r => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

const rolesOf = (u: UserView): string => u.projects.map(p => `${p.name}:${p.role}`).join(',') || '-'
const membersOf = (p: ProjectView): string => p.members.map(m => `${m.user}:${m.role}`).join(',') || '-'

const USER_ACTIONS: Record<string, Action> = {
  async add (client, positionals, values) {
    const name = one(positionals, 'user name')
    if (values.role !== undefined && values.project === undefined) usage('--role needs --project')
    const res = await client.call('users.create', {
      name, project: values.project as string | undefined, role: values.role as 'user' | undefined, global_role: values['global-role'] as 'user' | undefined
    })
    if (values.json === true) return JSON.stringify(res, null, 2)
    const where = res.user.projects.map(p => `, ${p.role} of project ${p.name}`).join('')
    return `Created user ${name} (global role ${res.user.global_role}${where}). Its token, shown only this once:\n${res.token}`
  },
  async list (client, _positionals, values) {
    const { users } = await client.call('users.list')
    if (values.json === true) return JSON.stringify(users, null, 2)
    return table([['USER', 'GLOBAL ROLE', 'PROJECTS'], ...users.map(u => [u.name, u.global_role, rolesOf(u)])])
  },
  async delete (client, positionals) {
    const name = one(positionals, 'user name')
    await client.call('users.delete', { name })
    return `Deleted user ${name}; its token no longer works.`
  },
  async 'rotate-token' (client, positionals, values) {
    const name = one(positionals, 'user name')
    const res = await client.call('users.rotate_token', { name })
    if (values.json === true) return JSON.stringify(res, null, 2)
    return `New token for user ${name} (the old one no longer works), shown only this once:\n${res.token}`
  },
  async 'add-key' (client, positionals) {
    if (positionals.length !== 2) usage('expected NAME FILE (a public key file, or - for stdin)')
    const [user, file] = positionals as [string, string]
    const res = await client.call('users.keys.add', { user, publicKey: await keyText(file) })
    return `Added SSH key ${res.fingerprint} to user ${user}.`
  },
  async keys (client, positionals, values) {
    const user = one(positionals, 'user name')
    const keys = await client.call('users.keys.list', { user })
    if (values.json === true) return JSON.stringify(keys, null, 2)
    if (keys.length === 0) return `User ${user} has no SSH keys.`
    return table([['FINGERPRINT', 'TYPE', 'COMMENT', 'ADDED'], ...keys.map(k => [k.fingerprint, k.type, k.comment || '-', new Date(k.added).toISOString()])])
  },
  async 'delete-key' (client, positionals) {
    if (positionals.length !== 2) usage('expected NAME FINGERPRINT')
    const [user, fingerprint] = positionals as [string, string]
    await client.call('users.keys.delete', { user, fingerprint })
    return `Removed SSH key ${fingerprint} from user ${user}.`
  }
}

/** A public key file's text, or stdin's for `-`. */
async function keyText (file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      usage(`cannot read the public key ${file}: ${(err as Error).message}`)
    }
  }
  let text = ''
  for await (const chunk of process.stdin) text += String(chunk)
  return text
}


const PROJECT_ACTIONS: Record<string, Action> = {
  async add (client, positionals) {
    const name = one(positionals, 'project name')
    await client.call('projects.create', { name })
    return `Created project ${name}. Add members with \`dstackd user add NAME --project ${name} --role user\` or \`dstackd project member ${name} USER --role user\`.`
  },
  async list (client, _positionals, values) {
    const { projects } = await client.call('projects.list')
    if (values.json === true) return JSON.stringify(projects, null, 2)
    return table([['PROJECT', 'CREATED BY', 'MEMBERS'], ...projects.map(p => [p.name, p.created_by, membersOf(p)])])
  },
  async delete (client, positionals) {
    const name = one(positionals, 'project name')
    await client.call('projects.delete', { name })
    return `Deleted project ${name}.`
  },
  async member (client, positionals, values) {
    if (positionals.length !== 2) usage('expected PROJECT USER')
    const [project, user] = positionals as [string, string]
    if ((values.role === undefined) === (values.remove !== true)) usage('give either --role admin|manager|user or --remove')
    const role = values.remove === true ? null : values.role as 'user'
    await client.call('projects.set_member', { project, user, role })
    return role === null ? `Removed ${user} from project ${project}.` : `${user} is ${role} of project ${project}.`
  }
}

/** `dstackd user …` (kind 'user') or `dstackd project …` (kind 'project'). */
export async function manage (kind: 'user' | 'project', argv: string[], local: LocalCaller): Promise<number> {
  const actions = kind === 'user' ? USER_ACTIONS : PROJECT_ACTIONS
  const [verb, ...rest] = argv
  if (verb === undefined || verb === '-h' || verb === '--help') {
    console.log(USERS_HELP)
    return verb === undefined ? 2 : 0
  }
  const action = Object.hasOwn(actions, verb) ? actions[verb]! : undefined
  if (action === undefined) {
    console.error(`dstackd ${kind}: unknown command "${verb}" (expected ${Object.keys(actions).join(', ')}). Run \`dstackd ${kind} --help\`.`)
    return 2
  }
  let parsed
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...ROLE_OPTIONS } })
  } catch (err) {
    console.error(`dstackd ${kind} ${verb}: ${(err as Error).message}`)
    return 2
  }
  if (parsed.values.help === true) { console.log(USERS_HELP); return 0 }
  const dataDir = local.dataDirOf(parsed.values['data-dir'])
  try {
    console.log(await local.callLocal(dataDir, client => action(client, parsed.positionals, parsed.values)))
    return 0
  } catch (err) {
    const e = err as Error & { usage?: boolean, code?: string }
    if (e.usage === true) { console.error(`dstackd ${kind} ${verb}: ${e.message}`); return 2 }
    const unreachable = e.code === 'unavailable' || e.code === 'timeout' || e.code === 'unauthenticated' || e.code === 'ENOENT'
    console.error(unreachable
      ? `dstackd ${kind} ${verb}: no dstackd answers for ${dataDir} (${e.message}). Start one with \`dstackd run --data-dir ${dataDir}\`.`
      : `dstackd ${kind} ${verb}: ${e.message}`)
    return 1
  }
}
