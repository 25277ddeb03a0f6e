// Users and projects as the state machine keeps them: seeding once, tokens only hashed, the
// last admin kept, members and roles, a project with active runs kept, an old state upgraded.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { apply, type Command } from '../../../daemon/state/machine.ts'
import { emptyState, upgradeState, type State } from '../../../daemon/state/types.ts'

const HASH = 'aa'.repeat(32)
const seed = (s: State, hash = HASH) => apply(s, { type: 'mesh.seed', at: 1, admin: { name: 'admin', token_hash: hash }, project: 'main' })
function seeded (): State {
  const s = emptyState()
  assert.ok(seed(s).ok)
  return s
}
const ok = (s: State, cmd: Command) => { const r = apply(s, cmd); assert.ok(r.ok, JSON.stringify(r)); return r }
const refused = (s: State, cmd: Command, code: string, message: RegExp) => {
  const r = apply(s, cmd)
  assert.not.ok(r.ok)
  if (!r.ok) { assert.is(r.code, code); assert.match(r.message, message) }
}

function submitRun (s: State, project: string, id = 'r1') {
  const configuration = parseConfiguration('type: task\ncommands: [sleep 1]') as RunConfiguration
  return ok(s, {
    type: 'run.submit', at: 5,
    run: { id, name: 'train', name_base: 'x', project, user: 'alice', priority: 0, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: jobSpecsFor(configuration, {}).map((spec, i) => ({ id: `${id}-j${i}`, submission_id: `${id}-s${i}`, spec }))
  })
}

test('mesh.seed makes the admin (global admin, admin of main) and main, once', () => {
  const s = seeded()
  assert.equal(s.users.admin, { name: 'admin', global_role: 'admin', token_hash: HASH, created_at: 1 })
  assert.equal(s.projects.main!.members, { admin: 'admin' })
  assert.ok(s.seeded)
  // A second seed (a new leader that raced) changes nothing.
  assert.ok(seed(s, 'bb'.repeat(32)).ok)
  assert.is(s.users.admin!.token_hash, HASH)
})

test('a state seeded, its main deleted, is never seeded again', () => {
  const s = seeded()
  ok(s, { type: 'project.delete', at: 2, name: 'main', by: 'admin' })
  seed(s)
  assert.is(s.projects.main, undefined)
})

test('user.create: with a project and role; a name taken or a missing project refused', () => {
  const s = seeded()
  ok(s, { type: 'user.create', at: 2, name: 'alice', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin', project: { name: 'main', role: 'manager' } })
  assert.is(s.projects.main!.members.alice, 'manager')
  assert.is(s.users.alice!.global_role, 'user')
  refused(s, { type: 'user.create', at: 3, name: 'alice', global_role: 'user', token_hash: 'dd'.repeat(32), by: 'admin' }, 'conflict', /user alice exists/)
  refused(s, { type: 'user.create', at: 3, name: 'bob', global_role: 'user', token_hash: 'dd'.repeat(32), by: 'admin', project: { name: 'nope', role: 'user' } }, 'not_found', /project nope not found/)
  assert.is(s.users.bob, undefined, 'a refused create makes nothing')
})

test('user.token replaces the hash; user.delete removes the user from every project', () => {
  const s = seeded()
  ok(s, { type: 'project.create', at: 2, name: 'team', by: 'admin' })
  ok(s, { type: 'user.create', at: 2, name: 'alice', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin', project: { name: 'team', role: 'user' } })
  ok(s, { type: 'user.token', at: 3, name: 'alice', token_hash: 'ee'.repeat(32), by: 'alice' })
  assert.is(s.users.alice!.token_hash, 'ee'.repeat(32))
  ok(s, { type: 'user.delete', at: 4, name: 'alice', by: 'admin' })
  assert.is(s.users.alice, undefined)
  assert.not.ok('alice' in s.projects.team!.members)
  refused(s, { type: 'user.token', at: 5, name: 'alice', token_hash: 'ff'.repeat(32), by: 'admin' }, 'not_found', /user alice not found/)
})

test('the last global admin cannot be deleted; one of two can', () => {
  const s = seeded()
  refused(s, { type: 'user.delete', at: 2, name: 'admin', by: 'admin' }, 'conflict', /last global admin/)
  ok(s, { type: 'user.create', at: 2, name: 'root2', global_role: 'admin', token_hash: 'cc'.repeat(32), by: 'admin' })
  ok(s, { type: 'user.delete', at: 3, name: 'admin', by: 'root2' })
})

test('project.create makes its creator its admin; project.member sets, changes and removes', () => {
  const s = seeded()
  ok(s, { type: 'user.create', at: 2, name: 'bob', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin' })
  ok(s, { type: 'project.create', at: 3, name: 'team', by: 'admin' })
  assert.equal(s.projects.team!.members, { admin: 'admin' })
  refused(s, { type: 'project.create', at: 3, name: 'team', by: 'admin' }, 'conflict', /project team exists/)
  ok(s, { type: 'project.member', at: 4, project: 'team', user: 'bob', role: 'user', by: 'admin' })
  ok(s, { type: 'project.member', at: 5, project: 'team', user: 'bob', role: 'manager', by: 'admin' })
  assert.is(s.projects.team!.members.bob, 'manager')
  ok(s, { type: 'project.member', at: 6, project: 'team', user: 'bob', role: null, by: 'admin' })
  assert.not.ok('bob' in s.projects.team!.members)
  refused(s, { type: 'project.member', at: 7, project: 'team', user: 'ghost', role: 'user', by: 'admin' }, 'not_found', /user ghost/)
  refused(s, { type: 'project.member', at: 7, project: 'gone', user: 'bob', role: 'user', by: 'admin' }, 'not_found', /project gone/)
})

test('a project with an active run is not deleted; once it ended, it is', () => {
  const s = seeded()
  ok(s, { type: 'project.create', at: 2, name: 'team', by: 'admin' })
  submitRun(s, 'team')
  refused(s, { type: 'project.delete', at: 6, name: 'team', by: 'admin' }, 'conflict', /active runs \(train\): stop them first/)
  ok(s, { type: 'run.stop', at: 7, run_id: 'r1', abort: true })
  ok(s, { type: 'project.delete', at: 8, name: 'team', by: 'admin' })
  assert.is(s.projects.team, undefined)
})

test('run events carry their project; users\' events do not name a project', () => {
  const s = seeded()
  const r = submitRun(s, 'main')
  assert.is(r.events[0]!.project, 'main')
  const u = ok(s, { type: 'user.create', at: 9, name: 'bob', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin' })
  assert.is(u.events[0]!.kind, 'user.created')
  assert.is(u.events[0]!.project, undefined)
})

test('no token in clear anywhere in the state: only what was given as a hash', () => {
  const s = seeded()
  ok(s, { type: 'user.create', at: 2, name: 'alice', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin' })
  const text = JSON.stringify(s)
  assert.not.match(text, /"token"/)
})

test('a state from before users and projects upgrades: empty, unseeded, its runs kept', () => {
  const old = emptyState() as Partial<State>
  delete old.users; delete old.projects; delete old.seeded
  const s = upgradeState(old as State)
  assert.equal(s.users, {})
  assert.equal(s.projects, {})
  assert.is(s.seeded, false)
  submitRun(s, 'main')
  assert.ok(seed(s).ok)
  assert.is(s.runs.r1!.project, 'main')
  assert.ok(s.projects.main)
})

const KEY = { fingerprint: 'SHA256:abc', type: 'ssh-ed25519', data: 'AAAA', comment: 'me@laptop', added: 7 }

test('user.key.add registers a key to one user; the same key again changes nothing; another user cannot take it', () => {
  const s = seeded()
  ok(s, { type: 'user.create', at: 2, name: 'alice', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin' })
  ok(s, { type: 'user.key.add', at: 7, user: 'alice', key: KEY, by: 'alice' })
  ok(s, { type: 'user.key.add', at: 8, user: 'alice', key: { ...KEY, added: 8 }, by: 'alice' })
  assert.equal(s.users.alice!.keys, [KEY])
  refused(s, { type: 'user.key.add', at: 9, user: 'admin', key: KEY, by: 'admin' }, 'conflict', /SHA256:abc is registered to another user/)
  refused(s, { type: 'user.key.add', at: 9, user: 'nobody', key: KEY, by: 'admin' }, 'not_found', /user nobody not found/)
  assert.ok(s.events.some(e => e.kind === 'user.key_added'))
})

test('user.key.delete removes a key; an unknown one is named; deleting the user takes its keys', () => {
  const s = seeded()
  ok(s, { type: 'user.create', at: 2, name: 'alice', global_role: 'user', token_hash: 'cc'.repeat(32), by: 'admin' })
  ok(s, { type: 'user.key.add', at: 7, user: 'alice', key: KEY, by: 'alice' })
  refused(s, { type: 'user.key.delete', at: 8, user: 'alice', fingerprint: 'SHA256:zzz', by: 'alice' }, 'not_found', /user alice has no key SHA256:zzz/)
  ok(s, { type: 'user.key.delete', at: 8, user: 'alice', fingerprint: KEY.fingerprint, by: 'alice' })
  assert.equal(s.users.alice!.keys, [])
  ok(s, { type: 'user.key.add', at: 9, user: 'alice', key: KEY, by: 'alice' })
  ok(s, { type: 'user.delete', at: 10, name: 'alice', by: 'admin' })
  // Free again: the key may now be another user's.
  ok(s, { type: 'user.key.add', at: 11, user: 'admin', key: KEY, by: 'admin' })
})

test.run()
