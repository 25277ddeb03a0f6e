// Users and projects against a real dstackd: a user's token reaches its project's runs and
// nothing of another project (ps, logs, stop, apply, events), rotation and deletion cut it
// off, `dstack project` keeps ~/.dstack/config.yml in dstack's format.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { dstack, newHome, runBin, ROOT, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'

let d: Daemon
let second: Daemon | undefined
let work: string
let socket: string
let alice: string

const DSTACKD = join(ROOT, 'daemon', 'bin.js')
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

/** `dstackd ARGS --data-dir DIR` on the daemon's host. */
const dstackd = async (...args: string[]) => await runBin(DSTACKD, [...args, '--data-dir', d.dataDir], { env: d.env })
/** The token a `dstackd user add|rotate-token` printed: its last line. */
const tokenOf = (stdout: string): string => stdout.trim().split('\n').at(-1)!
/** `dstack` as a user with `token`, for `project`, through the daemon's socket. */
const as = async (token: string, project: string, args: string[]) =>
  await dstack(d, args, { env: { DSTACK_URL: socket, DSTACK_TOKEN: token, DSTACK_PROJECT: project } })

const REFUSED = /project main: not found or you are not a member/

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-users-'))
  d = await startDaemon()
  socket = join(d.dataDir, 'api.sock')
  assert.is((await dstackd('project', 'add', 'team')).code, 0)
  const add = await dstackd('user', 'add', 'alice', '--project', 'team', '--role', 'user')
  assert.is(add.code, 0, add.stderr)
  assert.match(add.stdout, /Created user alice \(global role user, user of project team\)/)
  alice = tokenOf(add.stdout)
  assert.match(alice, /^[0-9a-f]{64}$/)
  // The admin (the local token, as `dstack` finds it) runs something in main.
  const file = await writeConfig(work, 'main.dstack.yml', `type: task\nname: mainrun\ncommands: [echo secret-output, sleep 300]\n${SMALL}`)
  const r = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await dstack(d, ['logs', 'mainrun'])).stdout.includes('secret-output'), { what: 'mainrun to print' })
})

test.after(async () => {
  await second?.cleanup()
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('the new token runs and lists in its project, and sees nothing of main', async () => {
  const file = await writeConfig(work, 'team.dstack.yml', `type: task\nname: teamrun\ncommands: [echo team-output]\n${SMALL}`)
  const apply = await as(alice, 'team', ['apply', '-f', file, '-y'])
  assert.is(apply.code, 0, apply.stderr)
  assert.match(apply.stdout, /team-output/)
  const ps = await as(alice, 'team', ['ps', '-a', '--json'])
  assert.is(ps.code, 0, ps.stderr)
  const listed = JSON.parse(ps.stdout)
  assert.is(listed.project, 'team')
  assert.equal(listed.runs.map((r: { name: string }) => r.name), ['teamrun'])
  assert.is(listed.runs[0].user, 'alice')
  const logs = await as(alice, 'team', ['logs', 'mainrun'])
  assert.is(logs.code, 1)
  assert.match(logs.stderr, /run mainrun not found/)
  assert.not.match(logs.stdout, /secret-output/)
  const events = await as(alice, 'team', ['event', '--json'])
  assert.is(events.code, 0, events.stderr)
  assert.not.match(events.stdout, /mainrun/)
  assert.not.match(events.stdout, /user\.created/)
})

test('another project is refused on ps, logs, stop and apply, with the same words as one that does not exist', async () => {
  const file = await writeConfig(work, 'intruder.dstack.yml', `type: task\nname: intruder\ncommands: [echo no]\n${SMALL}`)
  const tries = [['ps', '-a'], ['logs', 'mainrun'], ['stop', 'mainrun', '-y'], ['apply', '-f', file, '-y', '-d']]
  for (const args of tries) {
    const r = await as(alice, 'main', args)
    assert.is(r.code, 1, `${args[0]}: ${r.stdout}`)
    assert.match(r.stderr, REFUSED, args[0])
    assert.not.match(r.stdout, /secret-output/)
  }
  const none = await as(alice, 'nosuch', ['ps'])
  assert.is(none.code, 1)
  assert.match(none.stderr, /project nosuch: not found or you are not a member/)
  // Nothing happened in main.
  const main = JSON.parse((await dstack(d, ['ps', '-a', '--json'])).stdout)
  assert.equal(main.runs.map((r: { name: string }) => r.name), ['mainrun'])
  assert.is(main.runs[0].status, 'running')
})

test('dstackd user list shows users with their projects; --json too', async () => {
  const r = await dstackd('user', 'list', '--json')
  assert.is(r.code, 0, r.stderr)
  const users = JSON.parse(r.stdout) as Array<{ name: string, global_role: string, projects: Array<{ name: string, role: string }> }>
  assert.equal(users.find(u => u.name === 'alice')?.projects, [{ name: 'team', role: 'user' }])
  assert.is(users.find(u => u.name === 'admin')?.global_role, 'admin')
  assert.not.match(r.stdout, new RegExp(alice), 'never a token in a listing')
})

test('dstack project add/list/set-default/delete keep config.yml in dstack\'s format', async () => {
  const { env } = await newHome()
  const client = async (args: string[]) => await dstack(d, args, { env: { HOME: env.HOME } })
  const add = await client(['project', 'add', '--name', 'team', '--url', socket, '--token', alice, '-y'])
  assert.is(add.code, 0, add.stderr)
  assert.match(add.stdout, /Configuration updated at .*config\.yml/)
  const config = parse(await readFile(join(env.HOME!, '.dstack', 'config.yml'), 'utf8'))
  assert.equal(config, { projects: [{ name: 'team', url: socket, token: alice, default: true }] })
  // The default project is the one commands use.
  const ps = await client(['ps', '-a', '--json'])
  assert.is(ps.code, 0, ps.stderr)
  assert.is(JSON.parse(ps.stdout).project, 'team')
  // A project the token does not reach is refused and not written.
  const main = await client(['project', 'add', '--name', 'main', '--url', socket, '--token', alice, '-y'])
  assert.is(main.code, 1)
  assert.match(main.stderr, REFUSED)
  const bad = await client(['project', 'add', '--name', 'team', '--url', socket, '--token', 'f'.repeat(64), '-y'])
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /Forbidden\. Ensure the token is valid/)
  const list = await client(['project', 'list', '-v'])
  assert.is(list.code, 0, list.stderr)
  assert.match(list.stdout, /PROJECT\s+URL\s+USER\s+DEFAULT/)
  assert.match(list.stdout, /team\s+\S+\s+alice\s+✓/)
  const json = await client(['project', 'list', '--json'])
  assert.not.match(json.stdout, new RegExp(alice), 'never a token in a listing')
  assert.equal(JSON.parse(json.stdout), [{ name: 'team', url: socket, default: true }])
  assert.is((await client(['project', 'set-default', 'nosuch'])).code, 1)
  assert.is((await client(['project', 'set-default', 'team'])).code, 0)
  const del = await client(['project', 'delete', '--name', 'team', '-y'])
  assert.is(del.code, 0, del.stderr)
  assert.equal(parse(await readFile(join(env.HOME!, '.dstack', 'config.yml'), 'utf8')), { projects: [] })
})

test('users and projects are the mesh\'s: a joined host takes the same tokens and refuses the same projects', async () => {
  const joinToken = await dstackd('token')
  assert.is(joinToken.code, 0, joinToken.stderr)
  second = await startDaemon({ name: 'e2e-second', args: ['--join', joinToken.stdout.trim()] })
  const there = join(second.dataDir, 'api.sock')
  const on = async (token: string, project: string, args: string[]) =>
    await dstack(second!, args, { env: { DSTACK_URL: there, DSTACK_TOKEN: token, DSTACK_PROJECT: project } })
  const ps = await waitFor(async () => { const r = await on(alice, 'team', ['ps', '-a', '--json']); return r.code === 0 ? r : null }, { what: 'the joined host to know alice' })
  assert.equal(JSON.parse(ps.stdout).runs.map((r: { name: string }) => r.name), ['teamrun'])
  const refused = await on(alice, 'main', ['ps'])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, REFUSED)
  // The first admin's token is the founder's DIR/token, on every host.
  const founder = (await readFile(join(d.dataDir, 'token'), 'utf8')).trim()
  const admin = await on(founder, 'main', ['ps', '-a', '--json'])
  assert.is(admin.code, 0, admin.stderr)
  assert.ok(JSON.parse(admin.stdout).runs.some((r: { name: string }) => r.name === 'mainrun'))
})

test('rotate-token: the old token is refused at once, the new one works', async () => {
  const r = await dstackd('user', 'rotate-token', 'alice')
  assert.is(r.code, 0, r.stderr)
  const fresh = tokenOf(r.stdout)
  assert.is.not(fresh, alice)
  const old = await as(alice, 'team', ['ps'])
  assert.is(old.code, 1)
  assert.match(old.stderr, /refused the token/)
  assert.is((await as(fresh, 'team', ['ps'])).code, 0)
  alice = fresh
})

test('delete: the user\'s token no longer reaches anything; no token in the daemon\'s log', async () => {
  const r = await dstackd('user', 'delete', 'alice')
  assert.is(r.code, 0, r.stderr)
  const after = await as(alice, 'team', ['ps'])
  assert.is(after.code, 1)
  assert.match(after.stderr, /refused the token/)
  assert.not.match(d.log(), new RegExp(alice))
  const list = await dstackd('user', 'list')
  assert.not.match(list.stdout, /alice/)
})

test('a user or project refused by the daemon says why; a non-admin cannot manage users', async () => {
  assert.match((await dstackd('user', 'add', 'admin')).stderr, /user admin exists/)
  assert.match((await dstackd('user', 'delete', 'admin')).stderr, /last global admin/)
  assert.match((await dstackd('user', 'add', 'bad name')).stderr, /params\.name: expected 1 to 50 letters/)
  assert.match((await dstackd('user', 'add', 'x', '--role', 'user')).stderr, /--role needs --project/)
  const bob = tokenOf((await dstackd('user', 'add', 'bob', '--project', 'team', '--role', 'admin')).stdout)
  // A project admin is not a global admin: the fleet's hosts are not theirs to delete.
  const del = await as(bob, 'team', ['fleet', 'delete', 'local', '-i', '0', '-y'])
  assert.is(del.code, 1)
  assert.match(del.stderr, /not a global admin/)
})

test.run()
