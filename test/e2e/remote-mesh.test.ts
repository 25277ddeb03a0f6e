// A remote client over ssh:// against a 3-node mesh (each dstackd with its SSH gateway): apply,
// ps, logs and stop through a follower; `dstack project add` records the other members'
// gateways from their gossip; and `logs -f` whose node is lost (its link cut for good) goes on
// through another node of the project with no line lost or repeated.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { apiClient, dstack, newHome, writeConfig } from './harness.ts'
import { leaderOf, startCluster, type Host } from './cluster.ts'
import { countedLines, countingTask, followLogs, startTestProxy } from './ssh-gateway.ts'
import { waitFor } from '../poll.ts'

let hosts: Host[]
let follower: Host
let token: string
let work: string
let client: { home: string, env: NodeJS.ProcessEnv }
/** Each host's gateway URL. */
const urls = new Map<Host, string>()
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

const remote = async (url: string, args: string[]) => await dstack(client, args, { env: { DSTACK_URL: url, DSTACK_TOKEN: token } })

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-remote-mesh-'))
  hosts = await startCluster(3, {}, {}, ['--ssh-port', '0'])
  const leader = await leaderOf(hosts)
  follower = hosts.find(h => h !== leader)!
  // The founder's admin token: users live in the replicated state, so every node takes it.
  token = (await readFile(join(hosts[0]!.dataDir, 'token'), 'utf8')).trim()
  for (const h of hosts) {
    const c = await apiClient(h)
    const info = await c.call('server.info')
    await c.close()
    if (info.ssh === undefined) throw new Error(`${h.name} runs no SSH gateway`)
    urls.set(h, `ssh://127.0.0.1:${info.ssh.port}`)
  }
  client = await newHome()
})

test.after(async () => {
  for (const h of hosts ?? []) await h.cleanup().catch(() => undefined)
  await rm(client.home, { recursive: true, force: true })
  await rm(work, { recursive: true, force: true })
})

test('apply, ps, logs and stop through a follower', async () => {
  const url = urls.get(follower)!
  const file = await writeConfig(work, 'hello.dstack.yml', `type: task\nname: mesh-hello\ncommands: [echo hello-from-the-mesh]\n${SMALL}`)
  const apply = await remote(url, ['apply', '-f', file, '-y'])
  assert.is(apply.code, 0, apply.stderr)
  assert.match(apply.stdout, /hello-from-the-mesh/)
  const ps = await remote(url, ['ps', '-a', '--json'])
  assert.is(JSON.parse(ps.stdout).runs.find((r: { name: string }) => r.name === 'mesh-hello')?.status, 'done')
  assert.match((await remote(url, ['logs', 'mesh-hello'])).stdout, /hello-from-the-mesh/)
  const long = await writeConfig(work, 'long.dstack.yml', `type: task\nname: mesh-long\ncommands: [sleep 300]\n${SMALL}`)
  assert.is((await remote(url, ['apply', '-f', long, '-y', '-d'])).code, 0)
  assert.is((await remote(url, ['stop', 'mesh-long', '-y', '-x'])).code, 0)
  await waitFor(async () => JSON.parse((await remote(url, ['ps', '-a', '--json'])).stdout).runs.find((r: { name: string }) => r.name === 'mesh-long')?.status === 'terminated', { what: 'mesh-long to be terminated' })
})

test('project add records the other nodes; logs -f goes on through one of them when its node is lost', async () => {
  // Every member's gateway is in the follower's view once their gossip arrived.
  await waitFor(async () => {
    const c = await apiClient(follower)
    try { return (await c.call('server.info')).cluster.peers.every(p => typeof p.ssh === 'string') } finally { await c.close() }
  }, { what: 'the members\' gateways in the follower\'s view' })
  // The client reaches the follower through a proxy: cutting it for good loses that node.
  const proxy = await startTestProxy(Number(urls.get(follower)!.split(':').at(-1)))
  try {
    const url = `ssh://127.0.0.1:${proxy.port}`
    const add = await dstack(client, ['project', 'add', '--name', 'main', '--url', url, '--token', token, '-y'])
    assert.is(add.code, 0, add.stderr)
    const config = parse(await readFile(join(client.home, '.dstack', 'config.yml'), 'utf8'))
    const others = hosts.filter(h => h !== follower).map(h => urls.get(h)!).sort()
    assert.equal([...config.projects[0].nodes].sort(), others)

    const file = await writeConfig(work, 'count.dstack.yml', countingTask('mesh-count'))
    assert.is((await dstack(client, ['apply', '-f', file, '-y', '-d'])).code, 0)
    const logs = await followLogs(client.env, 'mesh-count')
    await proxy.cut()
    assert.is(await logs.exited, 0, logs.err())
    assert.match(logs.err(), /Lost the connection to ssh:\/\/127\.0\.0\.1:\d+ .*reconnecting/)
    const to = /Reconnected to (ssh:\/\/127\.0\.0\.1:\d+)/.exec(logs.err())?.[1]
    assert.ok(to !== undefined && others.includes(to), logs.err())
    assert.equal(logs.lines(), countedLines())
  } finally {
    await proxy.close()
  }
})

test.run()
