// A remote client over ssh:// on loopback against a real dstackd's SSH gateway (`--ssh-port`):
// every command through an SSH connection (apply attached, ps, logs, stop), the node's host key pinned on first use in
// ~/.dstack/known_hosts and a changed one refused, errors that say what to do (a wrong token,
// nothing listening, a server without the API), `dstack project add` of an ssh:// URL, and
// `logs -f` that goes on after its connection is cut with no line lost or repeated.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import net from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { apiClient, dstack, newHome, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { countedLines, countingTask, followLogs, startTestGateway, startTestProxy } from './ssh-gateway.ts'
import { waitFor } from '../poll.ts'

let d: Daemon
/** The daemon's gateway: its port (fixed, so a restarted daemon keeps it) and host key line. */
let gw: { port: number, hostKey: string }
let token: string
let work: string
/** The client's own HOME: no local daemon, its own ~/.dstack. */
let client: { home: string, env: NodeJS.ProcessEnv }
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

const urlOf = (port: number): string => `ssh://127.0.0.1:${port}`
/** `dstack ARGS` from the client's HOME against `url` (the gateway by default). */
const remote = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
  await dstack(client, args, { env: { DSTACK_URL: urlOf(gw.port), DSTACK_TOKEN: token, ...env } })

/** A port nothing listens on now. */
async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  return port
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-remote-'))
  d = await startDaemon({ args: ['--ssh-port', String(await freePort())] })
  token = (await readFile(join(d.dataDir, 'token'), 'utf8')).trim()
  const c = await apiClient(d)
  const info = await c.call('server.info')
  await c.close()
  if (info.ssh === undefined) throw new Error('the daemon runs no SSH gateway')
  gw = info.ssh
  client = await newHome()
})

test.after(async () => {
  await d?.cleanup()
  await rm(client.home, { recursive: true, force: true })
  await rm(work, { recursive: true, force: true })
})

test('first use pins the host key in ~/.dstack/known_hosts, in OpenSSH format, and says so once', async () => {
  const first = await remote(['ps', '-a'])
  assert.is(first.code, 0, first.stderr)
  assert.match(first.stderr, new RegExp(`Pinned the host key of \\[127\\.0\\.0\\.1\\]:${gw.port} \\(SHA256:`))
  const known = await readFile(join(client.home, '.dstack', 'known_hosts'), 'utf8')
  assert.is(known, `[127.0.0.1]:${gw.port} ${gw.hostKey.split(' ').slice(0, 2).join(' ')}\n`)
  const again = await remote(['ps', '-a'])
  assert.is(again.code, 0, again.stderr)
  assert.not.match(again.stderr, /Pinned/)
  assert.is(await readFile(join(client.home, '.dstack', 'known_hosts'), 'utf8'), known)
})

test('apply attached, ps, logs and stop over ssh://', async () => {
  const file = await writeConfig(work, 'hello.dstack.yml', `type: task\nname: remote-hello\ncommands: [echo hello-over-ssh]\n${SMALL}`)
  const apply = await remote(['apply', '-f', file, '-y'])
  assert.is(apply.code, 0, apply.stderr)
  assert.match(apply.stdout, /hello-over-ssh/)
  const ps = await remote(['ps', '-a', '--json'])
  assert.is(ps.code, 0, ps.stderr)
  assert.is(JSON.parse(ps.stdout).runs.find((r: { name: string }) => r.name === 'remote-hello')?.status, 'done')
  const logs = await remote(['logs', 'remote-hello'])
  assert.is(logs.code, 0, logs.stderr)
  assert.match(logs.stdout, /^hello-over-ssh\r?\n$/)

  const long = await writeConfig(work, 'long.dstack.yml', `type: task\nname: remote-long\ncommands: [sleep 300]\n${SMALL}`)
  assert.is((await remote(['apply', '-f', long, '-y', '-d'])).code, 0)
  const stop = await remote(['stop', 'remote-long', '-y', '-x'])
  assert.is(stop.code, 0, stop.stderr)
  await waitFor(async () => JSON.parse((await remote(['ps', '-a', '--json'])).stdout).runs.find((r: { name: string }) => r.name === 'remote-long')?.status === 'terminated', { what: 'remote-long to be terminated' })
})

test('a changed host key is refused, naming the host, both fingerprints and the fix', async () => {
  // Something else answers on the node's port while the daemon is down.
  await d.stop()
  const impostor = await startTestGateway({ socketPath: join(d.dataDir, 'api.sock'), token, port: gw.port })
  try {
    const r = await remote(['ps'])
    assert.is(r.code, 1)
    assert.match(r.stderr, new RegExp(`host key of \\[127\\.0\\.0\\.1\\]:${gw.port} has changed`))
    assert.is(r.stderr.match(/SHA256:[A-Za-z0-9+/]{43}/g)?.length, 2, r.stderr)
    assert.match(r.stderr, /remove that line/)
    assert.match(r.stderr, /known_hosts line 1/)
    assert.not.match(r.stderr, new RegExp(token))
  } finally {
    await impostor.close()
    await d.start()
  }
  // The daemon keeps its host key across restarts: the pinned key passes again.
  const again = await remote(['ps'])
  assert.is(again.code, 0, again.stderr)
})

test('a wrong token is refused with what to do, and the token never shows', async () => {
  const r = await remote(['ps'], { DSTACK_TOKEN: 'not-the-token' })
  assert.is(r.code, 1)
  assert.match(r.stderr, new RegExp(`the node at ssh://127\\.0\\.0\\.1:${gw.port} refused the token`))
  assert.match(r.stderr, /--token or DSTACK_TOKEN/)
  assert.not.match(r.stderr, /not-the-token/)
})

test('nothing listening, and an SSH server without the API, say so', async () => {
  const gone = await freePort()
  const r = await remote(['ps'], { DSTACK_URL: urlOf(gone) })
  assert.is(r.code, 1)
  assert.match(r.stderr, new RegExp(`nothing answers at 127\\.0\\.0\\.1:${gone}`))
  const other = await startTestGateway({ socketPath: join(d.dataDir, 'api.sock'), token, noApi: true })
  try {
    const o = await remote(['ps'], { DSTACK_URL: urlOf(other.port) })
    assert.is(o.code, 1)
    assert.match(o.stderr, /does not serve the dstack API over SSH/)
  } finally {
    await other.close()
  }
  const bad = await remote(['ps'], { DSTACK_URL: 'ssh://127.0.0.1:99999' })
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /ssh:\/\/127\.0\.0\.1:99999: the port must be 1-65535/)
})

test('project add checks an ssh:// URL, then commands use it from config.yml', async () => {
  const url = urlOf(gw.port)
  const refused = await dstack(client, ['project', 'add', '--name', 'main', '--url', url, '--token', 'wrong', '-y'])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /Forbidden/)
  const add = await dstack(client, ['project', 'add', '--name', 'main', '--url', url, '--token', token, '-y'])
  assert.is(add.code, 0, add.stderr)
  const config = await readFile(join(client.home, '.dstack', 'config.yml'), 'utf8')
  assert.match(config, new RegExp(`url: ${url.replace(/[/.]/g, '\\$&')}`))
  const ps = await dstack(client, ['ps', '-a', '--json'])
  assert.is(ps.code, 0, ps.stderr)
  assert.ok(JSON.parse(ps.stdout).runs.some((r: { name: string }) => r.name === 'remote-hello'))
  await rm(join(client.home, '.dstack', 'config.yml'))
})

test('logs -f through a connection that is cut goes on with no line lost or repeated', async () => {
  const proxy = await startTestProxy(gw.port)
  try {
    const file = await writeConfig(work, 'count.dstack.yml', countingTask('remote-count'))
    assert.is((await remote(['apply', '-f', file, '-y', '-d'])).code, 0)
    // The proxy listens on another port: a host of its own as far as known_hosts goes.
    const logs = await followLogs({ ...client.env, DSTACK_URL: urlOf(proxy.port), DSTACK_TOKEN: token }, 'remote-count')
    await proxy.cut()
    await waitFor(() => logs.err().includes('reconnecting'), { what: 'the client to notice the cut' })
    await new Promise(resolve => setTimeout(resolve, 500))
    await proxy.restore()
    assert.is(await logs.exited, 0, logs.err())
    assert.match(logs.err(), /Lost the connection to ssh:\/\/127\.0\.0\.1:\d+ .*reconnecting/)
    assert.match(logs.err(), /Reconnected to ssh:\/\/127\.0\.0\.1:\d+/)
    assert.equal(logs.lines(), countedLines())
  } finally {
    await proxy.close()
  }
})

test.run()
