// The SSH gateway of a real dstackd (`--ssh-port 0`) against the stock OpenSSH client and
// ssh2's Client: who gets in (a registered key, a token; not a wrong key or token), what they
// reach (their projects only, in the socket's words), the dstack-api subsystem, the host key
// kept across restarts, and hostile input that never takes the daemon down.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectApi, type ApiClient } from '../../daemon/api/client.ts'
import { apiClient, runBin, ROOT, startDaemon, type Daemon } from './harness.ts'
import { apiOver, connect, execOver, newKey, rejects, ssh, type KeyPair } from '../daemon/ssh/ssh.ts'

let d: Daemon
let work: string
let admin: ApiClient
let port: number
let hostKey: string
let aliceToken: string
let bobToken: string
let aliceKey: KeyPair
let strangerKey: KeyPair
let knownHosts: string

const NOT_MEMBER = 'project main: not found or you are not a member'

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-ssh-'))
  knownHosts = join(work, 'known_hosts')
  d = await startDaemon({ args: ['--ssh-port', '0'] })
  admin = await apiClient(d)
  const info = await admin.call('server.info')
  assert.ok(info.ssh, 'server.info has the gateway')
  port = info.ssh.port
  hostKey = info.ssh.hostKey
  aliceToken = (await admin.call('users.create', { name: 'alice', project: 'main', role: 'user' })).token
  await admin.call('projects.create', { name: 'other' })
  bobToken = (await admin.call('users.create', { name: 'bob', project: 'other', role: 'user' })).token
  aliceKey = await newKey(work, 'alice')
  strangerKey = await newKey(work, 'stranger')
  const alice = await connectApi({ socketPath: join(d.dataDir, 'api.sock'), token: aliceToken })
  try {
    await alice.call('users.keys.add', { publicKey: aliceKey.pub })
  } finally {
    await alice.close()
  }
})

test.after(async () => {
  await admin?.close().catch(() => {})
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('server.info and the status say where the gateway listens, with its ed25519 host key', async () => {
  assert.ok(port > 0)
  assert.match(hostKey, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/)
  assert.match(d.log(), new RegExp(`"ssh gateway listening","port":${port}`))
  const keyFile = join(d.dataDir, 'ssh_host_ed25519_key')
  assert.is((await stat(keyFile)).mode & 0o777, 0o600)
  assert.match(await readFile(keyFile, 'utf8'), /^-----BEGIN OPENSSH PRIVATE KEY-----/)
  const status = await runBin(join(ROOT, 'daemon', 'bin.js'), ['status', '--json', '--data-dir', d.dataDir], { env: d.env })
  assert.equal(JSON.parse(status.stdout).ssh, { port, hostKey })
})

test('a registered key logs in with the stock client; the host key it pins is the one server.info gives', async () => {
  const r = await ssh(port, knownHosts, aliceKey.path, 'main/nosuchrun', ['echo hi'])
  assert.is(r.code, 1, r.stderr)
  assert.match(r.stderr, /run nosuchrun not found in project main/)
  assert.ok((await readFile(knownHosts, 'utf8')).includes(hostKey.split(' ')[1]!), 'known_hosts holds the host key')
})

test('a login name that names no job is told so, and may use only the API', async () => {
  const r = await ssh(port, knownHosts, aliceKey.path, 'alice', ['echo hi'])
  assert.is(r.code, 1)
  assert.match(r.stderr, /login name "alice" names no job: log in as PROJECT\/RUN/)
})

test('a key nobody registered is refused', async () => {
  const r = await ssh(port, knownHosts, strangerKey.path, 'main/x', ['echo hi'])
  assert.is(r.code, 255)
  assert.match(r.stderr, /Permission denied/)
  assert.not.match(r.stderr, /not found/)
})

test('a wrong token is refused, by password and by keyboard-interactive', async () => {
  await rejects(connect({ port, username: 'alice', password: 'not-a-token', tryKeyboard: false }), /authentication methods failed/)
  await rejects(connect({ port, username: 'alice' }, 'not-a-token'), /authentication methods failed/)
})

test('the token logs in by password and by keyboard-interactive', async () => {
  ;(await connect({ port, username: 'main/x', password: aliceToken })).end()
  ;(await connect({ port, username: 'main/x' }, aliceToken)).end()
})

test('a user of another project is refused on SSH in the socket\'s words', async () => {
  const client = await connect({ port, username: 'main/anything', password: bobToken })
  try {
    const r = await execOver(client, 'echo hi')
    assert.is(r.code, 1)
    assert.ok(r.stderr.includes(NOT_MEMBER), r.stderr)
    assert.not.match(r.stderr, /anything/)
  } finally {
    client.end()
  }
})

test('dstack-api over an SSH channel serves server.info and runs.list with the login\'s token', async () => {
  const client = await connect({ port, username: 'alice', password: aliceToken })
  try {
    const api = await apiOver(client, aliceToken, 'main')
    const info = await api.call('server.info')
    assert.is(info.user, 'alice')
    assert.is(info.project, 'main')
    assert.equal(info.ssh, { port, hostKey })
    const runs = await api.call('runs.list', { all: true })
    assert.is(runs.project, 'main')
    assert.ok(Array.isArray(runs.runs))
    await api.close()
  } finally {
    client.end()
  }
})

test('dstack-api refuses another project in the socket\'s words, and a token other than the login\'s', async () => {
  const client = await connect({ port, username: 'bob', password: bobToken })
  try {
    const api = await apiOver(client, bobToken, 'main')
    await rejects(api.call('runs.list', {}), new RegExp(NOT_MEMBER))
    await api.close()
    // The frame carries alice's (valid) token on bob's connection: refused.
    await rejects(apiOver(client, aliceToken, 'main'), /token|unauthenticated|refused/i)
  } finally {
    client.end()
  }
})

test('a key-authenticated connection\'s API session is the key\'s user (the frame\'s token is not looked at)', async () => {
  const client = await connect({ port, username: 'alice', privateKey: await readFile(aliceKey.path) })
  try {
    const api = await apiOver(client, '', 'main')
    const info = await api.call('server.info')
    assert.is(info.user, 'alice')
    const keys = await api.call('users.keys.list', {})
    assert.is(keys.length, 1)
    assert.match(keys[0]!.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/)
    assert.is(keys[0]!.type, 'ssh-ed25519')
    assert.is(keys[0]!.comment, 'alice@test')
    // Adding the same key again changes nothing.
    assert.is((await api.call('users.keys.add', { publicKey: aliceKey.pub })).fingerprint, keys[0]!.fingerprint)
    assert.is((await api.call('users.keys.list', {})).length, 1)
    await api.close()
  } finally {
    client.end()
  }
})

test('users.keys: a bad key is refused naming the field; a key is one user\'s; a removed key no longer logs in', async () => {
  await rejects(admin.call('users.keys.add', { publicKey: 'ssh-ed25519 nonsense' }), /params\.publicKey: not an OpenSSH public key/)
  await rejects(admin.call('users.keys.add', { publicKey: await readFile(aliceKey.path, 'utf8') }), /that is a private key/)
  await rejects(admin.call('users.keys.add', { publicKey: aliceKey.pub }), /registered to another user/)
  const bob = await connectApi({ socketPath: join(d.dataDir, 'api.sock'), token: bobToken, project: 'other' })
  try {
    await rejects(bob.call('users.keys.list', { user: 'alice' }), /needs a global admin/)
  } finally {
    await bob.close()
  }
  // `dstackd user add-key` (the admin's CLI) registers a key for a user, and deletion cuts it off.
  const temp = await newKey(work, 'temp')
  const dstackd = (...args: string[]) => runBin(join(ROOT, 'daemon', 'bin.js'), [...args, '--data-dir', d.dataDir], { env: d.env, input: temp.pub })
  const add = await dstackd('user', 'add-key', 'bob', '-')
  assert.is(add.code, 0, add.stderr)
  const fingerprint = /SHA256:\S+/.exec(add.stdout)![0].replace(/\.$/, '')
  const inside = await ssh(port, knownHosts, temp.path, 'other/x', ['true'])
  assert.match(inside.stderr, /run x not found in project other/)
  assert.is((await dstackd('user', 'delete-key', 'bob', fingerprint)).code, 0)
  const after = await ssh(port, knownHosts, temp.path, 'other/x', ['true'])
  assert.is(after.code, 255)
  assert.match(after.stderr, /Permission denied/)
})

/** Opens a TCP connection to the gateway, sends `bytes` (if any), and closes it after `holdMs` or when the server does. */
function raw (bytes: Buffer | undefined, holdMs: number, half = false): Promise<void> {
  return new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.on('data', () => {})
    s.on('connect', () => {
      if (bytes !== undefined) s.write(bytes)
      if (half) s.end()
      setTimeout(() => s.destroy(), holdMs)
    })
  })
}

test('fuzz: random bytes, truncated packets, half-open connections and 200 failed logins leave the daemon serving', async () => {
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; i < 30; i++) {
    const junk = Buffer.alloc(1 + Math.floor(Math.random() * 4096))
    for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(Math.random() * 256)
    pending.push(raw(junk, 200))
    // A valid version line, then a packet that claims more than it carries, or nonsense lengths.
    const packet = Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), Buffer.from([0, 0, 0x10 + (i % 7), 0, 4, 20]), junk.subarray(0, i * 7)])
    pending.push(raw(packet, 200, i % 2 === 0))
  }
  // Half-open: connect and say nothing, or only the version line.
  for (let i = 0; i < 10; i++) pending.push(raw(i % 2 === 0 ? undefined : Buffer.from('SSH-2.0-idle\r\n'), 1500))
  await Promise.all(pending)
  for (let i = 0; i < 200; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, j) => connect({ port, username: `u${i + j}`, password: `wrong-${i + j}`, tryKeyboard: false }).then(c => { c.end(); throw new Error('a wrong token got in') }, () => undefined)))
  }
  assert.is(d.process.exitCode, null, 'the daemon is alive')
  const info = await admin.call('server.info')
  assert.is(info.ssh?.port, port)
  assert.not.match(d.log(), /uncaught exception|unhandled rejection/)
  assert.not.ok(d.log().includes('wrong-1'), 'no password in the log')
  const r = await ssh(port, knownHosts, aliceKey.path, 'main/x', ['true'])
  assert.match(r.stderr, /run x not found in project main/)
})

test('the host key is the same after a restart', async () => {
  await admin.close()
  await d.stop()
  await d.start()
  admin = await apiClient(d)
  const info = await admin.call('server.info')
  assert.is(info.ssh?.hostKey, hostKey)
  // Another port maybe (0 picks one), the same key: pinned under one alias, it passes strict checking.
  const r = await ssh(info.ssh!.port, knownHosts, aliceKey.path, 'main/x', ['true'], { options: ['-o', 'StrictHostKeyChecking=yes'] })
  assert.match(r.stderr, /run x not found in project main/)
  assert.not.match(r.stderr, /HOST IDENTIFICATION HAS CHANGED/)
})

test.run()
