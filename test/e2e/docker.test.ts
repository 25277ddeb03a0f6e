// Jobs in containers through a real dstackd and the real engine: a task with `image:` runs,
// exits with its code, its logs arrive complete; it sees dstack's paths and nothing of the
// host's environment; an instance volume is mounted; its port is reachable through the
// daemon; `kill -9` of dstackd while it runs, then a restart, re-adopts the container and its
// output goes on with no gap and no repeat. Skipped, loudly, without root or an engine.
import * as assert from 'uvu/assert'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { engineMissing, docker } from '../drivers/runtime/docker/engine.ts'
import { waitFor } from '../poll.ts'
import { httpGet } from './http.ts'
import { suiteNeeding } from '../skip.ts'
import { apiClient, dstack, runNamed, startDaemon, writeConfig, type Daemon } from './harness.ts'

const test = suiteNeeding(import.meta.url, 'root and a Docker engine with the local images', await engineMissing())

let d: Daemon
let work: string

test.before(async () => {
  d = await startDaemon({ name: 'docker-e2e' })
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-docker-'))
})

test.after(async () => {
  await d.cleanup()
  // The runtime labels its containers with their job directory: remove only this test's.
  const mine = await docker.listContainers({ all: true, filters: { label: ['dstackd.dir'] } })
  for (const c of mine) if (c.Labels['dstackd.dir']?.startsWith(d.jobsDir())) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
  await rm(work, { recursive: true, force: true })
})

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

async function task (name: string, body: string, args: string[] = []) {
  const file = await writeConfig(work, `${name}.dstack.yml`, `type: task\nname: ${name}\nimage: local/busybox\n${body}${SMALL}`)
  return await dstack(d, ['apply', '-f', file, '-y', ...args])
}

test('a task with image: runs in the container, exits with its code, with dstack\'s paths and none of the host\'s environment', async () => {
  const r = await task('img', 'commands:\n  - echo "repo=$DSTACK_REPO_DIR wd=$(pwd) hostfile=$DSTACK_MPI_HOSTFILE"\n  - echo "path=$PATH ca=${NODE_EXTRA_CA_CERTS:-none}"\n  - cat /etc/hostname >/dev/null && test -f "$DSTACK_MPI_HOSTFILE" && echo hostfile-ok\n  - exit 3\n')
  assert.is(r.code, 1, r.stderr + r.stdout)
  assert.match(r.stdout, /repo=\/workflow wd=\/workflow hostfile=\/dstack\/mpi\/hostfile/)
  assert.match(r.stdout, /hostfile-ok/)
  // The image's PATH (busybox: /bin), not the host's; nothing else of the host's (a process job inherits these).
  assert.match(r.stdout, /path=\/bin ca=none/)
  assert.not.match(r.stdout, /node_modules|\.nvm/)
  const run = await runNamed(d, 'img')
  assert.is(run?.status, 'failed')
  const get = await dstack(d, ['run', 'get', 'img', '--json'])
  assert.match(get.stdout, /"exit_status": 3/)
})

test('logs arrive complete: every line of a burst, in order', async () => {
  const r = await task('burst', 'commands:\n  - i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done\n')
  assert.is(r.code, 0, r.stderr)
  // A finished job's container is removed once its exit is recorded; its output stays readable.
  await waitFor(async () => {
    const left = await docker.listContainers({ all: true, filters: { label: ['dstackd.dir'] } })
    return left.every(c => !c.Labels['dstackd.dir']?.startsWith(d.jobsDir()))
  }, { what: 'the finished jobs\' containers to be removed' })
  const logs = await dstack(d, ['logs', 'burst'])
  const got = logs.stdout.split(/\r?\n/).filter(l => l.startsWith('line '))
  assert.is(got.length, 3000)
  got.forEach((l, i) => assert.is(l, `line ${i}`))
})

test('an instance volume is mounted (and an optional one that is missing is skipped)', async () => {
  const host = join(work, 'vol')
  await mkdir(host, { recursive: true })
  await writeFile(join(host, 'greeting'), 'hello from the host\n')
  const r = await task('vol', `volumes:\n  - ${host}:/data\n  - instance_path: ${join(work, 'missing')}\n    path: /opt/missing\n    optional: true\ncommands:\n  - cat /data/greeting\n  - echo written > /data/back\n`)
  assert.is(r.code, 0, r.stderr + r.stdout)
  assert.match(r.stdout, /hello from the host/)
  const { readFile } = await import('node:fs/promises')
  assert.is(await readFile(join(host, 'back'), 'utf8'), 'written\n')
})


test('a container\'s port is reachable through the daemon (busybox httpd)', async () => {
  const r = await task('web', 'ports: [8000]\ncommands:\n  - mkdir -p /tmp/www && echo "served by $DSTACK_RUN_NAME" > /tmp/www/index.html\n  - httpd -f -p 8000 -h /tmp/www\n', ['-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await runNamed(d, 'web'))?.status === 'running', { what: 'web to run', timeout: 60_000 })
  const c = await apiClient(d)
  try {
    const items = c.stream('jobs.forward', { run: 'web', port: 8000 })[Symbol.asyncIterator]()
    const at = (await items.next()).value as { port: number }
    const res = await waitFor(() => httpGet(at.port).catch(() => null), { what: 'httpd through the daemon', timeout: 30_000 })
    assert.equal(res, { status: 200, body: 'served by web\n' })
    await items.return?.(undefined)
  } finally {
    await c.close()
  }
  await dstack(d, ['stop', 'web', '-x', '-y'])
})

test('kill -9 of dstackd, then a restart: the container is re-adopted and its output goes on, no gap, no repeat', async () => {
  // It ticks until the test lets it finish (a file in its volume), however slow the restart.
  const gate = join(work, 'gate')
  await mkdir(gate, { recursive: true })
  const r = await task('adopt', `volumes: [${gate}:/gate]\ncommands:\n  - i=0; while [ ! -f /gate/go ]; do echo "tick $i"; i=$((i+1)); sleep 0.2; done; echo "tick $i"\n`, ['-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => /tick 3/.test((await dstack(d, ['logs', 'adopt'])).stdout), { what: 'the first ticks', timeout: 60_000 })
  await d.kill9()
  await new Promise(resolve => setTimeout(resolve, 1000))
  await d.start()
  await waitFor(() => /job re-adopted/.test(d.log()), { what: 'the container to be re-adopted', timeout: 60_000 })
  await writeFile(join(gate, 'go'), '')
  await waitFor(async () => (await runNamed(d, 'adopt'))?.status === 'done', { what: 'adopt to finish after the restart', timeout: 60_000 })
  const logs = await dstack(d, ['logs', 'adopt'])
  const ticks = logs.stdout.split(/\r?\n/).filter(l => l.startsWith('tick '))
  assert.ok(ticks.length > 4, logs.stdout)
  assert.equal(ticks, Array.from({ length: ticks.length }, (_, i) => `tick ${i}`))
})

test('an engine that goes away while a job runs: the job fails naming the engine, and the daemon keeps serving', async () => {
  // The engine is shared: this daemon reaches it through a proxy socket the test can cut.
  const { createServer, connect } = await import('node:net')
  const proxyPath = join(work, 'engine.sock')
  const conns = new Set<import('node:net').Socket>()
  const proxy = createServer(client => {
    const upstream = connect('/var/run/docker.sock')
    conns.add(client); conns.add(upstream)
    client.pipe(upstream).on('error', () => {})
    upstream.pipe(client).on('error', () => {})
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>(resolve => proxy.listen(proxyPath, resolve))
  const e = await startDaemon({ name: 'engine-away' })
  try {
    await e.stop()
    e.env.DOCKER_HOST = `unix://${proxyPath}`
    await e.start()
    const file = await writeConfig(work, 'away.dstack.yml', `type: task\nname: away\nimage: local/busybox\ncommands: [sleep 600]\n${SMALL}`)
    const r = await dstack(e, ['apply', '-f', file, '-y', '-d'])
    assert.is(r.code, 0, r.stderr)
    await waitFor(async () => (await runNamed(e, 'away'))?.status === 'running', { what: 'away to run', timeout: 60_000 })
    proxy.close()
    for (const c of conns) c.destroy()
    await waitFor(async () => (await runNamed(e, 'away'))?.status === 'failed', { what: 'the job to fail without its engine', timeout: 90_000 })
    const get = await dstack(e, ['run', 'get', 'away', '--json'])
    assert.match(get.stdout, /Docker engine at [^ ]*engine\.sock/, get.stdout)
    // Still serving: a process job runs, and the fleet says the engine is gone.
    const ok = await dstack(e, ['apply', '-f', await writeConfig(work, 'after.dstack.yml', `type: task\nname: after\ncommands: [echo still here]\n${SMALL}`), '-y'])
    assert.is(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /still here/)
    await waitFor(async () => /no engine/.test((await dstack(e, ['fleet', '-v'])).stdout), { what: 'fleet -v to show the engine gone', timeout: 30_000 })
  } finally {
    proxy.close()
    for (const c of conns) c.destroy()
    const mine = await docker.listContainers({ all: true, filters: { label: ['dstackd.dir'] } })
    for (const c of mine) if (c.Labels['dstackd.dir']?.startsWith(e.jobsDir())) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
    await e.cleanup()
  }
})

test.run()
