// The users and projects methods (`dstackd user …`, `dstackd project …`, `dstack project`).
// Each checks what the caller may do with the rules of access.ts; a token is made here, goes
// to the state only hashed, and comes back in clear once, in the answer that created it.
import { RpcError } from '../../mesh/rpc/protocol.ts'
import type { Handlers, HandlerContext } from '../../mesh/rpc/server.ts'
import type { StateStore } from '../state/store.ts'
import type { GlobalRole, Project, ProjectRole, State, User } from '../state/types.ts'
import type { Command } from '../state/machine.ts'
import { hashToken, mayChangeMember, mustBeAdmin, mustSeeProject, newToken, notMember, projectRole, type Principal } from './access.ts'
import { bindMethods } from './methods.ts'
import { parsePublicKey } from '../ssh/keys.ts'

export interface UserView {
  name: string
  global_role: GlobalRole
  created_at: number
  /** The projects the user is a member of, with the role in each. */
  projects: Array<{ name: string, role: ProjectRole }>
}

/** A registered SSH public key, as `users.keys.list` shows it. */
export interface UserKeyView {
  fingerprint: string
  type: string
  comment: string
  /** When it was registered (epoch ms). */
  added: number
}

export interface ProjectView {
  name: string
  created_at: number
  created_by: string
  /** The caller's role in it. */
  role: ProjectRole
  members: Array<{ user: string, role: ProjectRole }>
}

export function userView (state: State, u: User): UserView {
  const projects = Object.values(state.projects).filter(p => Object.hasOwn(p.members, u.name)).map(p => ({ name: p.name, role: p.members[u.name]! }))
  return { name: u.name, global_role: u.global_role, created_at: u.created_at, projects: projects.sort((a, b) => a.name.localeCompare(b.name)) }
}

function projectView (p: Project, role: ProjectRole): ProjectView {
  const members = Object.entries(p.members).map(([user, r]) => ({ user, role: r })).sort((a, b) => a.user.localeCompare(b.user))
  return { name: p.name, created_at: p.created_at, created_by: p.created_by, role, members }
}

const who = (ctx: HandlerContext): Principal => ctx.caller as Principal

export function createUserHandlers (store: StateStore): Handlers {
  const state = () => store.state
  async function propose (cmd: Command): Promise<void> {
    const res = await store.propose(cmd)
    if (!res.ok) throw new RpcError(res.code, res.message)
  }
  const mustFindUser = (name: string): User => {
    const u = Object.hasOwn(state().users, name) ? state().users[name] : undefined
    if (u === undefined) throw new RpcError('not_found', `user ${name} not found`)
    return u
  }

  /** Whose keys a call is about: the caller's own, or (a global admin only) the one named. */
  const keyOwner = (named: string | undefined, ctx: HandlerContext, what: string): string => {
    const caller = who(ctx).user
    if (named !== undefined && named !== caller) mustBeAdmin(who(ctx), what)
    return mustFindUser(named ?? caller).name
  }

  return bindMethods(['user'], {
    async 'users.list' (_p, ctx) {
      mustBeAdmin(who(ctx), 'listing users')
      return { users: Object.values(state().users).sort((a, b) => a.name.localeCompare(b.name)).map(u => userView(state(), u)) }
    },

    async 'users.create' (p, ctx) {
      mustBeAdmin(who(ctx), 'adding a user')
      if (p.role != null && p.project == null) throw new RpcError('invalid', 'users.create: a role needs a project (--project P --role R)')
      const token = newToken()
      const project = p.project == null ? null : { name: p.project, role: p.role ?? 'user' }
      await propose({ type: 'user.create', at: Date.now(), name: p.name, global_role: p.global_role ?? 'user', token_hash: hashToken(token), by: who(ctx).user, project })
      return { user: userView(state(), state().users[p.name]!), token }
    },

    async 'users.delete' (p, ctx) {
      mustBeAdmin(who(ctx), 'deleting a user')
      mustFindUser(p.name)
      await propose({ type: 'user.delete', at: Date.now(), name: p.name, by: who(ctx).user })
      return { deleted: p.name }
    },

    // A user may rotate their own token; a global admin anyone's.
    async 'users.rotate_token' (p, ctx) {
      if (who(ctx).user !== p.name) mustBeAdmin(who(ctx), 'rotating another user\'s token')
      mustFindUser(p.name)
      const token = newToken()
      await propose({ type: 'user.token', at: Date.now(), name: p.name, token_hash: hashToken(token), by: who(ctx).user })
      return { user: p.name, token }
    },

    async 'users.keys.add' (p, ctx) {
      const user = keyOwner(p.user, ctx, 'adding a key to another user')
      let key
      try {
        key = parsePublicKey(p.publicKey)
      } catch (err) {
        throw new RpcError('invalid', `users.keys.add: params.publicKey: ${(err as Error).message}`)
      }
      await propose({ type: 'user.key.add', at: key.added, user, key, by: who(ctx).user })
      return { fingerprint: key.fingerprint }
    },

    async 'users.keys.list' (p, ctx) {
      const user = keyOwner(p?.user, ctx, 'listing another user\'s keys')
      return (state().users[user]!.keys ?? []).map(k => ({ fingerprint: k.fingerprint, type: k.type, comment: k.comment, added: k.added }))
    },

    async 'users.keys.delete' (p, ctx) {
      const user = keyOwner(p.user, ctx, 'removing another user\'s key')
      await propose({ type: 'user.key.delete', at: Date.now(), user, fingerprint: p.fingerprint, by: who(ctx).user })
      return { deleted: p.fingerprint }
    },

    async 'projects.list' (_p, ctx) {
      const projects: ProjectView[] = []
      for (const project of Object.values(state().projects)) {
        const role = projectRole(state(), who(ctx), project.name)
        if (role !== null) projects.push(projectView(project, role))
      }
      return { projects: projects.sort((a, b) => a.name.localeCompare(b.name)) }
    },

    async 'projects.create' (p, ctx) {
      mustBeAdmin(who(ctx), 'creating a project')
      await propose({ type: 'project.create', at: Date.now(), name: p.name, by: who(ctx).user })
      return projectView(state().projects[p.name]!, 'admin')
    },

    async 'projects.delete' (p, ctx) {
      if (mustSeeProject(state(), who(ctx), p.name) !== 'admin') throw new RpcError('forbidden', `project ${p.name}: deleting it needs its admin`)
      await propose({ type: 'project.delete', at: Date.now(), name: p.name, by: who(ctx).user })
      return { deleted: p.name }
    },

    async 'projects.set_member' (p, ctx) {
      const role = mustSeeProject(state(), who(ctx), p.project)
      const current = state().projects[p.project]!.members[p.user] ?? null
      if (!mayChangeMember(role, current, p.role)) {
        throw new RpcError('forbidden', role === 'user' ? `project ${p.project}: changing its members needs its admin or a manager` : `project ${p.project}: only its admin gives or takes the admin role`)
      }
      mustFindUser(p.user)
      await propose({ type: 'project.member', at: Date.now(), project: p.project, user: p.user, role: p.role, by: who(ctx).user })
      const project = state().projects[p.project]
      if (project === undefined) throw notMember(p.project)
      return projectView(project, projectRole(state(), who(ctx), p.project) ?? role)
    }
  })
}
