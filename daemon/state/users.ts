// Users and projects in the replicated state: the commands that create, change and delete them.
// Tokens arrive hashed (daemon/api/access.ts hashes them before proposing): neither the state
// nor the Raft log ever holds one in clear. Like the rest of the machine, these never throw.
import { FINAL_RUN_STATUSES, type GlobalRole, type ProjectRole, type State, type StateEvent, type UserKey } from './types.ts'

/** The project every mesh starts with, and where runs from before projects live. */
export const DEFAULT_PROJECT = 'main'
/** The first user, made at the first start of a mesh with the founder's local token. */
export const FIRST_ADMIN = 'admin'

export type UserCommand =
  /** The first admin and the project `main`, once per mesh (a fresh one, or one from before users). */
  | { type: 'mesh.seed', at: number, admin: { name: string, token_hash: string }, project: string }
  | { type: 'user.create', at: number, name: string, global_role: GlobalRole, token_hash: string, by: string, project?: { name: string, role: ProjectRole } | null }
  | { type: 'user.delete', at: number, name: string, by: string }
  | { type: 'user.token', at: number, name: string, token_hash: string, by: string }
  | { type: 'project.create', at: number, name: string, by: string }
  | { type: 'project.delete', at: number, name: string, by: string }
  /** Adds a user to a project with a role, changes their role, or (role null) removes them. */
  | { type: 'project.member', at: number, project: string, user: string, role: ProjectRole | null, by: string }
  /** Registers an SSH public key to a user (the same key again changes nothing). */
  | { type: 'user.key.add', at: number, user: string, key: UserKey, by: string }
  | { type: 'user.key.delete', at: number, user: string, fingerprint: string, by: string }

export type UserResult = { ok: true } | { ok: false, code: string, message: string }

type Emit = (e: Omit<StateEvent, 'seq' | 'at'>) => void

export function applyUserCommand (state: State, cmd: UserCommand, emit: Emit): UserResult {
  const refuse = (code: string, message: string): UserResult => ({ ok: false, code, message })
  switch (cmd.type) {
    case 'mesh.seed': {
      if (state.seeded) return { ok: true }
      state.users[cmd.admin.name] ??= { name: cmd.admin.name, global_role: 'admin', token_hash: cmd.admin.token_hash, created_at: cmd.at }
      state.projects[cmd.project] ??= { name: cmd.project, created_at: cmd.at, created_by: cmd.admin.name, members: { [cmd.admin.name]: 'admin' } }
      state.seeded = true
      emit({ kind: 'mesh.seeded', message: `User ${cmd.admin.name} (global admin) and project ${cmd.project} created` })
      return { ok: true }
    }
    case 'user.create': {
      if (state.users[cmd.name]) return refuse('conflict', `user ${cmd.name} exists`)
      if (cmd.project && !state.projects[cmd.project.name]) return refuse('not_found', `project ${cmd.project.name} not found`)
      state.users[cmd.name] = { name: cmd.name, global_role: cmd.global_role, token_hash: cmd.token_hash, created_at: cmd.at }
      if (cmd.project) state.projects[cmd.project.name]!.members[cmd.name] = cmd.project.role
      emit({ kind: 'user.created', message: `User ${cmd.name} (${cmd.global_role}) created by ${cmd.by}` })
      return { ok: true }
    }
    case 'user.delete': {
      const user = state.users[cmd.name]
      if (!user) return refuse('not_found', `user ${cmd.name} not found`)
      if (user.global_role === 'admin' && Object.values(state.users).filter(u => u.global_role === 'admin').length === 1) {
        return refuse('conflict', `user ${cmd.name} is the last global admin: make another admin first`)
      }
      delete state.users[cmd.name]
      for (const p of Object.values(state.projects)) delete p.members[cmd.name]
      emit({ kind: 'user.deleted', message: `User ${cmd.name} deleted by ${cmd.by}` })
      return { ok: true }
    }
    case 'user.token': {
      const user = state.users[cmd.name]
      if (!user) return refuse('not_found', `user ${cmd.name} not found`)
      user.token_hash = cmd.token_hash
      emit({ kind: 'user.token_rotated', message: `Token of user ${cmd.name} rotated by ${cmd.by}` })
      return { ok: true }
    }
    case 'project.create': {
      if (state.projects[cmd.name]) return refuse('conflict', `project ${cmd.name} exists`)
      // Its creator administers it (the host's local admin, if not a user, administers every project anyway).
      const members: Record<string, ProjectRole> = state.users[cmd.by] ? { [cmd.by]: 'admin' } : {}
      state.projects[cmd.name] = { name: cmd.name, created_at: cmd.at, created_by: cmd.by, members }
      emit({ kind: 'project.created', message: `Project ${cmd.name} created by ${cmd.by}`, project: cmd.name })
      return { ok: true }
    }
    case 'project.delete': {
      if (!state.projects[cmd.name]) return refuse('not_found', `project ${cmd.name} not found`)
      const active = Object.values(state.runs).filter(r => r.project === cmd.name && !FINAL_RUN_STATUSES.includes(r.status)).map(r => r.name)
      if (active.length > 0) return refuse('conflict', `project ${cmd.name} has active runs (${active.slice(0, 5).join(', ')}${active.length > 5 ? ', …' : ''}): stop them first`)
      delete state.projects[cmd.name]
      emit({ kind: 'project.deleted', message: `Project ${cmd.name} deleted by ${cmd.by}`, project: cmd.name })
      return { ok: true }
    }
    case 'project.member': {
      const project = state.projects[cmd.project]
      if (!project) return refuse('not_found', `project ${cmd.project} not found`)
      if (!state.users[cmd.user]) return refuse('not_found', `user ${cmd.user} not found`)
      if (cmd.role === null) {
        if (!(cmd.user in project.members)) return { ok: true }
        delete project.members[cmd.user]
        emit({ kind: 'project.member', message: `User ${cmd.user} removed from project ${cmd.project} by ${cmd.by}`, project: cmd.project })
      } else {
        project.members[cmd.user] = cmd.role
        emit({ kind: 'project.member', message: `User ${cmd.user} is ${cmd.role} of project ${cmd.project} (set by ${cmd.by})`, project: cmd.project })
      }
      return { ok: true }
    }
    case 'user.key.add': {
      const user = state.users[cmd.user]
      if (!user) return refuse('not_found', `user ${cmd.user} not found`)
      if ((user.keys ?? []).some(k => k.fingerprint === cmd.key.fingerprint)) return { ok: true }
      // One key, one user: the gateway tells who logs in by the key alone.
      if (Object.values(state.users).some(u => (u.keys ?? []).some(k => k.fingerprint === cmd.key.fingerprint))) return refuse('conflict', `key ${cmd.key.fingerprint} is registered to another user`)
      user.keys = [...(user.keys ?? []), cmd.key]
      emit({ kind: 'user.key_added', message: `SSH key ${cmd.key.fingerprint} added to user ${cmd.user} by ${cmd.by}` })
      return { ok: true }
    }
    case 'user.key.delete': {
      const user = state.users[cmd.user]
      if (!user) return refuse('not_found', `user ${cmd.user} not found`)
      if (!(user.keys ?? []).some(k => k.fingerprint === cmd.fingerprint)) return refuse('not_found', `user ${cmd.user} has no key ${cmd.fingerprint}`)
      user.keys = user.keys!.filter(k => k.fingerprint !== cmd.fingerprint)
      emit({ kind: 'user.key_deleted', message: `SSH key ${cmd.fingerprint} removed from user ${cmd.user} by ${cmd.by}` })
      return { ok: true }
    }
  }
}

/** The user a public key (by its fingerprint) is registered to, with the key. */
export function userOfKey (state: State, fingerprint: string): { user: string, key: UserKey } | undefined {
  for (const u of Object.values(state.users)) {
    const key = (u.keys ?? []).find(k => k.fingerprint === fingerprint)
    if (key !== undefined) return { user: u.name, key }
  }
  return undefined
}

export interface SeedingOptions {
  store: { readonly state: State, propose (cmd: { type: 'mesh.seed', at: number, admin: { name: string, token_hash: string }, project: string }): Promise<{ ok: boolean }> }
  /** True while this node leads: only the leader seeds. */
  leading: () => boolean
  /** The hash of this host's own admin token: the first admin's token. */
  adminTokenHash: string
  log: (msg: string, fields?: object) => void
}

/**
 * Seeds a mesh that has no users yet (a fresh one, or one from a dstackd before users): while
 * this node leads, it proposes the first admin (with its own DIR/token) and the project
 * `main`, where every run from before projects already is. Once seeded it stops.
 */
export function startSeeding (opts: SeedingOptions): { close (): void, seeded: () => boolean } {
  let busy = false
  const tick = (): void => {
    if (busy || opts.store.state.seeded || !opts.leading()) return
    busy = true
    opts.store.propose({ type: 'mesh.seed', at: Date.now(), admin: { name: FIRST_ADMIN, token_hash: opts.adminTokenHash }, project: DEFAULT_PROJECT })
      .then(res => { if (res.ok) opts.log(`user ${FIRST_ADMIN} and project ${DEFAULT_PROJECT} created (the admin's token is this host's DIR/token)`) })
      .catch(err => opts.log('seeding users and projects failed; retrying', { error: (err as Error).message }))
      .finally(() => { busy = false })
  }
  const timer = setInterval(tick, 500)
  timer.unref()
  tick()
  return { close: () => clearInterval(timer), seeded: () => opts.store.state.seeded }
}
