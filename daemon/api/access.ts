// Who calls, and what they may reach: a session's token names a user (or this host's own
// admin, by the token in DIR), its project scopes every call. One authorization point: the
// guard wraps every method of the socket, resolves the caller at each call from the current
// state (a rotated or deleted token stops working at the next call) and refuses, before any
// handler runs, a call the method table's access does not allow:
//
//   client  a member of the session's project (a global admin reaches every project)
//   admin   a global admin
//   user    any user; the handler checks the rules below for what it touches (users.ts)
//
// Tokens are compared by their sha256 in constant time; the state holds only hashes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { RpcError } from '../../mesh/rpc/protocol.ts'
import type { Handler, HandlerContext, Handlers } from '../../mesh/rpc/server.ts'
import { DEFAULT_PROJECT, FIRST_ADMIN } from '../state/users.ts'
import type { GlobalRole, ProjectRole, State, StateEvent } from '../state/types.ts'
import type { Access } from './methods.ts'

/** A session's credentials, as authenticate() found them: never the token itself. */
export interface Caller {
  /** The hash of the token; null for this host's own admin token (DIR/token). */
  token_hash: string | null
  project: string
  /** Set for a session of the SSH gateway authenticated by a public key (daemon/ssh/): whose key it was (token_hash is then null and unused). */
  key?: { user: string, fingerprint: string }
}

/** Who calls, resolved at the call from the current state. */
export interface Principal {
  user: string
  global_role: GlobalRole
  /** The session's project (it may not exist, or the user may not be a member: see projectRole). */
  project: string
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** A new token: 32 random bytes, hex (what DIR/token is too). */
export function newToken (): string {
  return randomBytes(32).toString('hex')
}

function sameHash (a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y)
}

/** The user whose token hash this is, comparing every user's in constant time. */
function userByHash (state: State, hash: string): string | undefined {
  let found: string | undefined
  for (const u of Object.values(state.users)) if (sameHash(u.token_hash, hash) && found === undefined) found = u.name
  return found
}

/** The same words whether the project exists or not: a refusal never tells another project's name exists. */
export function notMember (project: string): RpcError {
  const shown = project.length > 64 ? `${project.slice(0, 64)}…` : project
  return new RpcError('forbidden', `project ${JSON.stringify(shown).slice(1, -1)}: not found or you are not a member`)
}

/** The caller's role in a project: a global admin administers every project there is. */
export function projectRole (state: State, p: Pick<Principal, 'user' | 'global_role'>, project: string): ProjectRole | null {
  const found = Object.hasOwn(state.projects, project) ? state.projects[project] : undefined
  if (found === undefined) return null
  if (p.global_role === 'admin') return 'admin'
  return Object.hasOwn(found.members, p.user) ? found.members[p.user]! : null
}

/** Refuses (throws) a call of `access` the principal may not make. */
export function authorize (state: State, access: Access, p: Principal): void {
  if (access === 'peer') throw new RpcError('forbidden', 'a method between hosts of the mesh')
  if (access === 'admin' && p.global_role !== 'admin') throw new RpcError('forbidden', `user ${p.user} is not a global admin`)
  // Before this host has the mesh's users and projects (a fresh mesh's first moments, a host
  // still catching up), its own admin is not locked out of `dstackd status`.
  if (access === 'client' && projectRole(state, p, p.project) === null && !(p.global_role === 'admin' && !state.seeded)) throw notMember(p.project)
}

/** A project a principal may see: one they are a member of (throws the same refusal otherwise). */
export function mustSeeProject (state: State, p: Principal, project: string): ProjectRole {
  const role = projectRole(state, p, project)
  if (role === null) throw notMember(project)
  return role
}

export function mustBeAdmin (p: Principal, what: string): void {
  if (p.global_role !== 'admin') throw new RpcError('forbidden', `${what} needs a global admin (user ${p.user} is not one)`)
}

/**
 * Who may give `user` the role `to` in a project (null: remove them): its admins (global
 * admins included); a manager too, but never to or from the admin role.
 */
export function mayChangeMember (callerRole: ProjectRole | null, current: ProjectRole | null, to: ProjectRole | null): boolean {
  if (callerRole === 'admin') return true
  if (callerRole === 'manager') return current !== 'admin' && to !== 'admin'
  return false
}

/**
 * An event of the audit stream a member of `project` sees: its runs' and its own; the hosts'
 * (the fleet is shared); users' only for a global admin. Events from before projects are `main`'s.
 */
export function eventVisible (e: StateEvent, project: string, globalAdmin: boolean): boolean {
  if (e.kind.startsWith('user.') || e.kind.startsWith('mesh.')) return globalAdmin
  if (e.project !== undefined) return e.project === project
  if (e.run !== undefined) return project === DEFAULT_PROJECT
  return true
}

export interface AccessOptions {
  state: () => State
  /** This host's own admin token (DIR/token): always a global admin here, whatever the state says. */
  localToken: string
}

export interface AccessControl {
  /** For the socket server: the caller of a session's credentials, or undefined (refused). */
  authenticate (credentials: { token: string, project?: string }): Caller | undefined
  /** The principal of a session now (throws `unauthenticated` when its token no longer names a user). */
  principal (caller: Caller): Principal
  /**
   * Every method of `table` served to authorized callers only: `scoped` gives the handlers
   * of one user in one project (kept for reuse), `global` those that check the caller
   * themselves (ctx.caller is the Principal there).
   */
  guard (table: Record<string, { access: Access }>, scoped: (p: Principal) => Handlers, global: Handlers): Handlers
}

/**
 * A stream's items go out only while its caller may still see them: a token rotated or
 * deleted, or a membership removed, ends the stream (`logs -f`, `ps -w`) at its next item.
 */
function checkedStream (result: unknown, check: () => unknown): unknown {
  if (result instanceof Promise) return result.then(r => checkedStream(r, check))
  if (result === null || typeof result !== 'object' || !(Symbol.asyncIterator in result)) return result
  const items = result as AsyncIterable<unknown>
  return (async function * () {
    for await (const item of items) {
      check()
      yield item
    }
  })()
}

/** Handler sets kept for (user, project) pairs; beyond this many the oldest go. */
const MAX_SCOPES = 256

export function createAccess (opts: AccessOptions): AccessControl {
  const localHash = hashToken(opts.localToken)

  function principal (caller: Caller): Principal {
    if (caller.key !== undefined) {
      const state = opts.state()
      const user = Object.hasOwn(state.users, caller.key.user) ? state.users[caller.key.user]! : undefined
      if (user === undefined || !(user.keys ?? []).some(k => k.fingerprint === caller.key!.fingerprint)) throw new RpcError('unauthenticated', 'the SSH key was removed or its user deleted')
      return { user: user.name, global_role: user.global_role, project: caller.project }
    }
    if (caller.token_hash === null) return { user: FIRST_ADMIN, global_role: 'admin', project: caller.project }
    const state = opts.state()
    const name = userByHash(state, caller.token_hash)
    if (name === undefined) throw new RpcError('unauthenticated', 'invalid token: it was rotated or its user deleted')
    return { user: name, global_role: state.users[name]!.global_role, project: caller.project }
  }

  return {
    authenticate ({ token, project }) {
      const hash = hashToken(token)
      const scope = project === undefined || project === '' ? DEFAULT_PROJECT : project
      if (sameHash(hash, localHash)) return { token_hash: null, project: scope }
      return userByHash(opts.state(), hash) === undefined ? undefined : { token_hash: hash, project: scope }
    },
    principal,
    guard (table, scoped, global) {
      const scopes = new Map<string, Handlers>()
      const handlersOf = (p: Principal): Handlers => {
        const key = `${p.user}\n${p.global_role}\n${p.project}`
        let found = scopes.get(key)
        if (found === undefined) {
          found = scoped(p)
          if (scopes.size >= MAX_SCOPES) scopes.delete(scopes.keys().next().value!)
          scopes.set(key, found)
        }
        return found
      }
      const out: Handlers = {}
      for (const [name, method] of Object.entries(table)) {
        if (method.access === 'peer') continue
        const own = Object.hasOwn(global, name)
        out[name] = (params: unknown, ctx: HandlerContext) => {
          if (ctx.caller === undefined) throw new RpcError('unauthenticated', 'no credentials')
          const caller = ctx.caller as Caller
          const check = (): Principal => {
            const p = principal(caller)
            authorize(opts.state(), method.access, p)
            return p
          }
          const p = check()
          const handler: Handler | undefined = own ? global[name] : handlersOf(p)[name]
          if (handler === undefined) throw new RpcError('unknown_method', `unknown method "${name}"`)
          return checkedStream(handler(params, { ...ctx, caller: p }), check)
        }
      }
      return out
    }
  }
}
