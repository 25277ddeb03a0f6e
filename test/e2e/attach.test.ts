// `dstack attach` and attached `apply` against a real dstackd: a job's HTTP server (busybox
// httpd) reached on the forwarded localhost port; an explicit local port that is taken refused
// with dstack's hint; a port the run does not expose refused.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bindPorts, relay } from '../../tui/forward.ts'
import { gatewayDialer } from '../../tui/ssh-dial.ts'
import { apiClient, dstack, dstackChild, runNamed, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { httpGet } from './http.ts'
import { waitFor } from '../poll.ts'

let d: Daemon
let work: string
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

/** A task serving `served by RUN` with busybox httpd on `port` (a process job listens on the host). */
function webTask (name: string, port: number, mapping: string = String(port)): string {
  return `type: task\nname: ${name}\nports: ["${mapping}"]\ncommands:\n  - mkdir -p www && echo "served by $DSTACK_RUN_NAME" > www/index.html\n  - exec busybox httpd -f -p 127.0.0.1:${port} -h www\n${SMALL}`
}

/** The child's stdout once `pattern` shows in it. */
async function outputUntil (child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  let out = ''
  let err = ''
  child.stdout!.on('data', b => { out += b })
  child.stderr!.on('data', b => { err += b })
  return await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`${what}: exited ${child.exitCode} early:\n${out}\n${err}`)
    return pattern.test(out) ? out : null
  }, { what, timeout: 60_000 })
}

async function interrupt (child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGINT')
  return await exited
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-attach-'))
  d = await startDaemon({ args: ['--ssh-port', '0'] })
})

test.after(async () => {
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

let webPort = 0

test('attach: the job\'s port on localhost, moved up when the same port is taken; Ctrl+C detaches', async () => {
  webPort = await freePort()
  const file = await writeConfig(work, 'web.dstack.yml', webTask('web', webPort))
  const r = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await runNamed(d, 'web'))?.status === 'running', { what: 'web to run', timeout: 60_000 })
  const child = dstackChild(d, ['attach', 'web'])
  const out = await outputUntil(child, /Press Ctrl\+C to detach\.\.\./, 'attach to print its text')
  // The job itself listens on webPort on this host: the forward takes the next free port.
  const m = /^ {2}- localhost:(\d+) -> (\d+)$/m.exec(out)
  assert.ok(m, out)
  assert.is(Number(m![2]), webPort)
  assert.ok(Number(m![1]) > webPort, out)
  assert.match(out, /^Attached to run web \(replica=0 job=0\)\nForwarded ports \(local -> remote\):\n/)
  const res = await waitFor(() => httpGet(Number(m![1])).catch(() => null), { what: 'httpd through the forward', timeout: 30_000 })
  assert.equal(res, { status: 200, body: 'served by web\n' })
  assert.is(await interrupt(child), 0)
  assert.is((await runNamed(d, 'web'))?.status, 'running', 'detaching leaves the run running')
})

test('through the SSH gateway (how an ssh:// client forwards): the key and host key attach left in HOME reach the job\'s port', async () => {
  const home = process.env.HOME
  process.env.HOME = d.home
  const c = await apiClient(d)
  const stop = new AbortController()
  try {
    const info = await c.call('server.info')
    assert.ok(info.ssh)
    const dial = await gatewayDialer({ host: '127.0.0.1', port: info.ssh!.port, project: 'main' }, 'main/web', stop.signal)
    const forwarding = relay(await bindPorts([{ local: await freePort(), container: webPort, exact: false }]), dial)
    try {
      const res = await waitFor(() => httpGet(forwarding.ports[0]!.local).catch(() => null), { what: 'httpd through the gateway', timeout: 30_000 })
      assert.equal(res, { status: 200, body: 'served by web\n' })
    } finally {
      forwarding.close()
    }
  } finally {
    stop.abort()
    await c.close()
    process.env.HOME = home
  }
})

test('attach: an explicit local port that is taken is refused with the hint', async () => {
  const r = await dstack(d, ['attach', 'web', '-p', `${webPort}:${webPort}`])
  assert.is(r.code, 1)
  assert.match(r.stderr, `port ${webPort} is already in use; use \`-p ${webPort + 1}:${webPort}\``)
})

test('attach: -p names only ports the run exposes; an unknown run is named', async () => {
  const r = await dstack(d, ['attach', 'web', '-p', '9999:81'])
  assert.is(r.code, 1)
  assert.match(r.stderr, `run web does not expose port 81 (its ports: ${webPort})`)
  const none = await dstack(d, ['attach', 'nosuchrun'])
  assert.is(none.code, 1)
  assert.match(none.stderr, /nosuchrun/)
  assert.is((await dstack(d, ['attach'])).code, 2)
  assert.is((await dstack(d, ['stop', '-x', '-y', 'web'])).code, 0)
})

test('attached apply forwards the run\'s ports while it runs', async () => {
  // An explicit local port, taken before the run is submitted: the job (on this very host)
  // binds its own port only once it runs.
  const port = await freePort()
  const local = await freePort()
  const file = await writeConfig(work, 'web2.dstack.yml', webTask('web2', port, `${local}:${port}`))
  const child = dstackChild(d, ['apply', '-f', file, '-y'])
  const out = await outputUntil(child, /localhost:\d+ -> \d+/, 'apply to forward the port')
  const m = /localhost:(\d+) -> (\d+)/.exec(out)!
  assert.equal([Number(m[1]), Number(m[2])], [local, port])
  const res = await waitFor(() => httpGet(Number(m[1])).catch(() => null), { what: 'httpd through the forward', timeout: 30_000 })
  assert.equal(res, { status: 200, body: 'served by web2\n' })
  const entries = join(d.home, '.dstack', 'ssh', 'config')
  assert.match(await readFile(entries, 'utf8'), /^Host web2\n/m, 'ssh web2 works while it runs')
  // Without a terminal, Ctrl+C stops the run and then detaches.
  child.kill('SIGINT')
  await waitFor(async () => ['terminated', 'done', 'failed'].includes((await runNamed(d, 'web2'))?.status), { what: 'web2 to stop', timeout: 60_000 })
  await new Promise(resolve => child.exitCode !== null ? resolve(null) : child.once('exit', resolve))
  assert.not.match(await readFile(entries, 'utf8'), /^Host web2\n/m, 'the entry goes with the run')
})

test.run()
