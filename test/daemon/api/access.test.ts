// Who may reach what (daemon/api/access.ts and the users methods of api/users.ts), over a real
// store (Raft on in-memory storage): tokens to users, projects scoping every call, roles, and a
// refusal that reads the same whether the project exists or not.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { memoryStorage } from '../../../mesh/raft/storage.ts'
import { memoryNetwork } from '../../../mesh/raft/transport.ts'
import type { Handlers } from '../../../mesh/rpc/server.ts'
import { authorize, createAccess, eventVisible, hashToken, mayChangeMember, projectRole, type AccessControl, type Principal } from '../../../daemon/api/access.ts'
import { methods } from '../../../daemon/api/methods.ts'
import { createUserHandlers } from '../../../daemon/api/users.ts'
import { openStore, type ReplicatedStore } from '../../../daemon/state/store.ts'
import { startSeeding } from '../../../daemon/state/users.ts'
import { emptyState, type State } from '../../../daemon/state/types.ts'

const LOCAL = 'local-admin-token'
let store: ReplicatedStore
let access: AccessControl
let api: Handlers

// The project-scoped handlers: what a call of `runs.list` would be scoped to.
let gate: Promise<void> = Promise.resolve()
const scoped = (p: Principal): Handlers => ({
  'runs.list': () => ({ project: p.project, user: p.user }),
  'mesh.token': () => ({ token: 'join' }),
  // A stream that gives one item, then another once `gate` opens.
  'runs.watch': async () => (async function * () { yield 1; await gate; yield 2 })()
})

test.before(async () => {
  store = await openStore({ storage: memoryStorage(), transport: memoryNetwork().transport('a'), bootstrap: true, tickMs: 10, electionTicks: 5, proposeTimeoutMs: 3000 })
  const seeding = startSeeding({ store, leading: () => store.raft.status().role === 'leader', adminTokenHash: hashToken(LOCAL), log: () => {} })
  const deadline = Date.now() + 5000
  while (!store.state.seeded && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  seeding.close()
  assert.ok(store.state.seeded, 'the leader seeded the admin and main')
  access = createAccess({ state: () => store.state, localToken: LOCAL })
  api = access.guard(methods, scoped, createUserHandlers(store))
})

test.after(async () => { await store?.close() })

/** A call as the session of `token` (and project) would make it; throws the refusal. */
async function call (token: string, method: string, params: unknown = null, project?: string): Promise<any> {
  const caller = access.authenticate(project === undefined ? { token } : { token, project })
  if (caller === undefined) throw Object.assign(new Error('invalid token'), { code: 'unauthenticated' })
  return await api[method]!(params, { signal: new AbortController().signal, peer: 'test', method, caller })
}

async function refusal (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  try { await p } catch (err) { return err as { code: string, message: string } }
  throw new Error('expected a refusal')
}

test('the local token is the first admin: main is its default project; a wrong token is refused', async () => {
  assert.equal(await call(LOCAL, 'runs.list'), { project: 'main', user: 'admin' })
  assert.is(access.authenticate({ token: 'wrong' }), undefined)
  assert.is(access.authenticate({ token: '' }), undefined)
})

test('the state holds the admin\'s token hashed, never in clear', () => {
  assert.is(store.state.users.admin!.token_hash, hashToken(LOCAL))
  assert.not.match(JSON.stringify(store.state), /local-admin-token/)
})

test('a user\'s token reaches their project and no other, with the same words for one that does not exist', async () => {
  await call(LOCAL, 'projects.create', { name: 'team' })
  await call(LOCAL, 'projects.create', { name: 'secret' })
  const { token } = await call(LOCAL, 'users.create', { name: 'alice', project: 'team', role: 'user' })
  assert.match(token, /^[0-9a-f]{64}$/)
  assert.equal(await call(token, 'runs.list', null, 'team'), { project: 'team', user: 'alice' })
  const other = await refusal(call(token, 'runs.list', null, 'secret'))
  const missing = await refusal(call(token, 'runs.list', null, 'nosuch'))
  assert.is(other.code, 'forbidden')
  assert.is(other.message, 'project secret: not found or you are not a member')
  assert.is(missing.message, 'project nosuch: not found or you are not a member')
  assert.is(missing.code, other.code)
  // Without a project the session is main's, which alice is not in.
  assert.match((await refusal(call(token, 'runs.list'))).message, /project main: not found or you are not a member/)
})

test('admin methods need a global admin', async () => {
  const { token } = await call(LOCAL, 'users.create', { name: 'carol', project: 'main', role: 'admin' })
  assert.match((await refusal(call(token, 'mesh.token'))).message, /user carol is not a global admin/)
  assert.match((await refusal(call(token, 'users.list'))).message, /needs a global admin/)
  assert.match((await refusal(call(token, 'users.create', { name: 'x' }))).message, /needs a global admin/)
  assert.match((await refusal(call(token, 'projects.create', { name: 'mine' }))).message, /needs a global admin/)
  assert.equal(await call(LOCAL, 'mesh.token'), { token: 'join' })
})

test('rotating a token: the old one fails at the next call, even on an open session', async () => {
  const { token: old } = await call(LOCAL, 'users.create', { name: 'dave', project: 'team' })
  const caller = access.authenticate({ token: old, project: 'team' })!
  const { token: fresh } = await call(old, 'users.rotate_token', { name: 'dave' }, 'team')
  assert.is.not(fresh, old)
  assert.is(access.authenticate({ token: old }), undefined)
  const open = await refusal(Promise.resolve().then(() => api['runs.list']!(null, { signal: new AbortController().signal, peer: 't', method: 'runs.list', caller })))
  assert.is(open.code, 'unauthenticated')
  assert.equal(await call(fresh, 'runs.list', null, 'team'), { project: 'team', user: 'dave' })
  // Only an admin rotates someone else's.
  assert.match((await refusal(call(fresh, 'users.rotate_token', { name: 'alice' }, 'team'))).message, /needs a global admin/)
})

test('a stream ends at its next item once its caller\'s token was rotated', async () => {
  const { token } = await call(LOCAL, 'users.create', { name: 'gina', project: 'team' })
  let open!: () => void
  gate = new Promise(resolve => { open = resolve })
  const stream = (await call(token, 'runs.watch', null, 'team')) as AsyncIterable<number>
  const it = stream[Symbol.asyncIterator]()
  assert.equal(await it.next(), { value: 1, done: false })
  await call(LOCAL, 'users.rotate_token', { name: 'gina' })
  open()
  const err = await refusal(it.next())
  assert.is(err.code, 'unauthenticated')
})

test('a deleted user\'s token stops working; the user leaves every project', async () => {
  const { token } = await call(LOCAL, 'users.create', { name: 'erin', project: 'team' })
  await call(LOCAL, 'users.delete', { name: 'erin' })
  assert.is(access.authenticate({ token }), undefined)
  assert.not.ok('erin' in store.state.projects.team!.members)
})

test('members: a manager adds users but never touches admins; a user changes nothing', async () => {
  const { token: manager } = await call(LOCAL, 'users.create', { name: 'mona', project: 'team', role: 'manager' })
  await call(LOCAL, 'users.create', { name: 'frank' })
  const view = await call(manager, 'projects.set_member', { project: 'team', user: 'frank', role: 'user' }, 'team')
  assert.ok(view.members.some((m: { user: string, role: string }) => m.user === 'frank' && m.role === 'user'))
  assert.match((await refusal(call(manager, 'projects.set_member', { project: 'team', user: 'frank', role: 'admin' }, 'team'))).message, /only its admin/)
  assert.match((await refusal(call(manager, 'projects.set_member', { project: 'secret', user: 'frank', role: 'user' }, 'team'))).message, /project secret: not found or you are not a member/)
  const { token: user } = await call(LOCAL, 'users.rotate_token', { name: 'alice' })
  assert.match((await refusal(call(user, 'projects.set_member', { project: 'team', user: 'frank', role: null }, 'team'))).message, /needs its admin or a manager/)
})

test('projects.list: a user sees their projects only; a global admin all', async () => {
  const { token } = await call(LOCAL, 'users.rotate_token', { name: 'alice' })
  const mine = (await call(token, 'projects.list', null, 'team')).projects.map((p: { name: string }) => p.name)
  assert.equal(mine, ['team'])
  const all = (await call(LOCAL, 'projects.list')).projects.map((p: { name: string }) => p.name)
  assert.equal(all, ['main', 'secret', 'team'])
})

test('projects.delete: its admin only, and a refusal for a non-member that does not say it exists', async () => {
  const { token } = await call(LOCAL, 'users.rotate_token', { name: 'alice' })
  assert.match((await refusal(call(token, 'projects.delete', { name: 'secret' }, 'team'))).message, /project secret: not found or you are not a member/)
  assert.match((await refusal(call(token, 'projects.delete', { name: 'team' }, 'team'))).message, /needs its admin/)
  await call(LOCAL, 'projects.delete', { name: 'secret' })
  assert.is(store.state.projects.secret, undefined)
})

test('bad params are refused naming the field', async () => {
  const err = await refusal(call(LOCAL, 'users.create', { name: 'no spaces allowed' }))
  assert.is(err.code, 'invalid')
  assert.match(err.message, /params\.name/)
})

// The rules as pure functions, over a hand-made state.
function state (): State {
  const s = emptyState()
  s.seeded = true
  s.users.u = { name: 'u', global_role: 'user', token_hash: 'aa', created_at: 0 }
  s.projects.p = { name: 'p', created_at: 0, created_by: 'x', members: { u: 'user' } }
  return s
}
const U: Principal = { user: 'u', global_role: 'user', project: 'p' }
const A: Principal = { user: 'a', global_role: 'admin', project: 'p' }

test('authorize: the table of access × principal', () => {
  const s = state()
  const cases: Array<[string, Principal, boolean]> = [
    ['client', U, true], ['client', { ...U, project: 'q' }, false], ['client', A, true], ['client', { ...A, project: 'q' }, false],
    ['admin', U, false], ['admin', A, true], ['user', U, true], ['user', { ...U, project: 'q' }, true], ['peer', A, false]
  ]
  for (const [access, p, allowed] of cases) {
    let ok = true
    try { authorize(s, access as 'client', p) } catch { ok = false }
    assert.is(ok, allowed, `${access} for ${p.user} in ${p.project}`)
  }
})

test('authorize: before the state is seeded, only a global admin passes a project call', () => {
  const s = emptyState()
  authorize(s, 'client', A)
  assert.throws(() => authorize(s, 'client', U), /not found or you are not a member/)
})

test('projectRole: a member\'s role; a global admin administers every existing project only', () => {
  const s = state()
  assert.is(projectRole(s, U, 'p'), 'user')
  assert.is(projectRole(s, A, 'p'), 'admin')
  assert.is(projectRole(s, A, 'q'), null)
  assert.is(projectRole(s, U, 'constructor'), null, 'no inherited property is a project')
})

test('mayChangeMember: admins anything, managers never to or from admin, users nothing', () => {
  assert.ok(mayChangeMember('admin', 'admin', null))
  assert.ok(mayChangeMember('manager', null, 'user'))
  assert.ok(mayChangeMember('manager', 'user', 'manager'))
  assert.not.ok(mayChangeMember('manager', 'admin', 'user'))
  assert.not.ok(mayChangeMember('manager', 'user', 'admin'))
  assert.not.ok(mayChangeMember('user', null, 'user'))
  assert.not.ok(mayChangeMember(null, null, 'user'))
})

test('eventVisible: a project\'s runs, the hosts, old events in main, users\' to admins only', () => {
  const e = (fields: object) => ({ seq: 1, at: 0, kind: 'run.submitted', message: '', ...fields })
  assert.ok(eventVisible(e({ run: 'x', project: 'p' }), 'p', false))
  assert.not.ok(eventVisible(e({ run: 'x', project: 'q' }), 'p', false))
  assert.ok(eventVisible(e({ run: 'x' }), 'main', false))
  assert.not.ok(eventVisible(e({ run: 'x' }), 'p', false))
  assert.ok(eventVisible(e({ kind: 'instance.created', instance: 'h' }), 'p', false))
  assert.not.ok(eventVisible(e({ kind: 'user.created' }), 'p', false))
  assert.ok(eventVisible(e({ kind: 'user.created' }), 'p', true))
})

test.run()
