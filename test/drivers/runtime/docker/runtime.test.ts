// The docker runtime against the real engine: containers, logs, signals, limits, recover. No mocks.
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dockerRuntime, isJobExit, type JobInfo, type JobSpec, type LogChunk } from '../../../../drivers/runtime/index.ts'
import { suiteNeeding } from '../../../skip.ts'
import { waitFor } from '../../../poll.ts'
import { begin, BUSYBOX, cleanup, docker, engineMissing, finished, jobRoot, lines, output, outputUntil, SOCKET, within } from './engine.ts'

const test = suiteNeeding(import.meta.url, 'root and a Docker engine', await engineMissing())
const { root, spec } = jobRoot()
const rt = dockerRuntime({ rootDir: root, socketPath: SOCKET })
const sh = (script: string, extra = {}, image = BUSYBOX) => spec(['/bin/sh', '-c', script], extra, image)

test.after(async () => { await cleanup(root) })

/** A started job that loops until stopped, once it runs (`before` runs first in its shell). */
async function looping (before = '', extra: Partial<JobSpec> = {}): Promise<JobSpec> {
  const s = sh(`${before ? before + '; ' : ''}echo ready; while true; do sleep 1; done`, extra)
  await begin(rt, s)
  await outputUntil(rt, s.id, 'ready')
  return s
}

test('exit code and the complete output: seq 1 20000 and lines past the engine\'s 16 KiB message size', async () => {
  const s = sh('seq 1 20000; printf "%040000d\\n" 7; printf "no newline at the end"; exit 3')
  const info = await begin(rt, s)
  assert.ok(info.pid > 0)
  // Followed while the container runs: served from the engine's log.
  const followed: LogChunk[] = []
  for await (const c of rt.logs(s.id, { follow: true })) followed.push(c)
  const exit = await finished(rt, s.id)
  assert.is(exit.exitCode, 3)
  assert.is(exit.reason, 'exited')
  const text = await output(rt, s.id) // now from the job dir
  const want = Array.from({ length: 20000 }, (_, i) => String(i + 1)).join('\r\n') + '\r\n' + '7'.padStart(40000, '0') + '\r\nno newline at the end'
  assert.is(text, want)
  assert.is(Buffer.concat(followed.map(c => c.data)).toString(), want)
  let at = 0
  for (const c of followed) { assert.is(c.offset, at); at += c.data.length }
  assert.is(fs.readFileSync(join(s.dir, 'output.log'), 'utf8'), want)
  assert.equal(JSON.parse(fs.readFileSync(join(s.dir, 'exit.json'), 'utf8')), exit)
})

test('env, working dir (the job\'s work folder at /workflow) and user', async () => {
  const s = sh('env | sort; pwd; id -u; id -g', { env: { PATH: '/bin', FOO: 'bar baz', EQ: 'a=b' } })
  s.workingDir = join(s.dir, 'work', 'sub')
  s.container!.user = '1234:2345'
  await begin(rt, s)
  assert.is((await finished(rt, s.id)).exitCode, 0)
  const out = lines(await output(rt, s.id))
  for (const v of ['FOO=bar baz', 'EQ=a=b', 'PATH=/bin', 'TERM=xterm-256color']) assert.ok(out.includes(v), `${v} in ${JSON.stringify(out)}`)
  assert.ok(out.includes('/workflow/sub'), JSON.stringify(out))
  assert.ok(out.includes('1234') && out.includes('2345'), JSON.stringify(out))
  // The work folder is the host's <job dir>/work: what the job writes there is on the host.
  const w = sh('echo made > here.txt')
  w.workingDir = join(w.dir, 'work', 'a', 'b')
  await begin(rt, w)
  assert.is((await finished(rt, w.id)).exitCode, 0)
  assert.is(fs.readFileSync(join(w.dir, 'work', 'a', 'b', 'here.txt'), 'utf8'), 'made\n')
})

test('entrypoint replaces the image\'s; the command is its arguments', async () => {
  const s = spec(['one', 'two'])
  s.container!.entrypoint = ['/bin/echo', 'args:']
  await begin(rt, s)
  assert.is((await finished(rt, s.id)).exitCode, 0)
  assert.is(await output(rt, s.id), 'args: one two\r\n')
})

test('a command that is not in the image: the start says so', async () => {
  const s = spec(['no-such-program', 'x'])
  const got = await within(rt.start(s))
  assert.ok(isJobExit(got))
  assert.match(got.message!, /no-such-program is not in the image's PATH/)
  const s2 = spec(['/no/such/file'])
  const got2 = await within(rt.start(s2))
  assert.ok(isJobExit(got2))
  assert.match(got2.message!, /\/no\/such\/file does not exist in image local\/busybox:latest/)
  assert.equal(await rt.wait(s2.id), got2)
})

test('an image that is neither here nor pullable: a JobExit naming it, no container left', async () => {
  const s = spec(['true'], {}, 'local/not-built-here:1')
  const got = await within(rt.start(s))
  assert.ok(isJobExit(got))
  assert.match(got.message!, /could not pull image local\/not-built-here:1/)
  assert.is((await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${s.id}`] } })).length, 0)
})

test('a port is published on 127.0.0.1 (host 0: a free one, reported) and answers', async () => {
  const s = sh('echo served > /workflow/index.html; exec httpd -f -p 8000 -h /workflow', {})
  s.container!.ports = [{ container: 8000, host: 0 }]
  const info = await begin(rt, s)
  const port = info.ports?.find(p => p.container === 8000)?.host
  assert.ok(port && port > 0, JSON.stringify(info.ports))
  const body = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/index.html`)
    return r.ok ? await r.text() : null
  }, { what: 'the job\'s web server to answer on 127.0.0.1', timeout: 20_000 })
  assert.is(body, 'served\n')
  const bound = (await docker.getContainer((await docker.listContainers({ filters: { label: [`dstackd.job=${s.id}`] } }))[0]!.Id).inspect()).NetworkSettings.Ports['8000/tcp']
  assert.equal(bound?.map(b => b.HostIp), ['127.0.0.1'])
  await rt.kill(s.id)
  assert.is((await finished(rt, s.id)).reason, 'killed')
})

test('a port already taken on the host: the start fails and says so', async () => {
  const server = net.createServer()
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const taken = (server.address() as net.AddressInfo).port
  try {
    const s = spec(['true'])
    s.container!.ports = [{ container: 80, host: taken }]
    const got = await within(rt.start(s))
    assert.ok(isJobExit(got))
    assert.match(got.message!, new RegExp(`could not start the container: .*${taken}`))
  } finally {
    server.close()
  }
})

test('instance volumes: a bind mount, and an optional one whose host path is missing is skipped', async () => {
  const host = join(root, 'volume-a')
  fs.mkdirSync(host, { recursive: true })
  fs.writeFileSync(join(host, 'in.txt'), 'from the host\n')
  const s = sh('cat /data/in.txt; echo back > /data/out.txt; ls /opt/missing 2>&1 || echo no-optional')
  s.container!.volumes = [{ hostPath: host, path: '/data' }, { hostPath: join(root, 'not-there'), path: '/opt/missing', optional: true }]
  const info = await begin(rt, s)
  assert.ok(info.notes?.some(n => n.includes('/opt/missing') && n.includes('skipped')), JSON.stringify(info.notes))
  assert.is((await finished(rt, s.id)).exitCode, 0)
  const out = await output(rt, s.id)
  assert.match(out, /from the host/)
  assert.match(out, /no-optional/)
  assert.is(fs.readFileSync(join(host, 'out.txt'), 'utf8'), 'back\n')
  assert.not.ok(fs.existsSync(join(root, 'not-there')))
})

test('a memory limit holds: an allocation past it is OOM-killed and reported so', async () => {
  const s = sh('echo allocating; exec dd if=/dev/zero of=/dev/null bs=256M count=1', { limits: { memoryBytes: 64 * 1024 * 1024 } })
  const info = await begin(rt, s)
  assert.ok(info.limits.applied)
  const exit = await finished(rt, s.id)
  assert.is(exit.reason, 'exited')
  assert.is(exit.exitCode, 137)
  assert.is(exit.signal, 'SIGKILL')
  assert.match(exit.message!, /killed for exceeding its memory limit of 64 MiB/)
  assert.match(await output(rt, s.id), /allocating/)
})

test('stop: SIGINT reaches every process (a shell\'s sleep too), so it ends long before the grace', async () => {
  const s = await looping()
  await rt.stop(s.id, 120_000)
  const exit = await finished(rt, s.id)
  assert.is(exit.reason, 'stopped')
  assert.is(exit.exitCode, 130) // died of SIGINT (128 + 2), not of the kill after the grace (137)
})

test('stop: a job that ignores SIGINT is killed after the grace', async () => {
  const s = await looping('trap "" INT')
  await rt.stop(s.id, 300)
  const exit = await finished(rt, s.id)
  assert.is(exit.reason, 'stopped')
  assert.is(exit.exitCode, 137)
  assert.equal(JSON.parse(fs.readFileSync(join(s.dir, 'stop.json'), 'utf8')).reason, 'stopped')
})

test('kill ends it at once; max_duration ends a job with SIGTERM', async () => {
  const s = await looping()
  await rt.kill(s.id)
  const exit = await finished(rt, s.id)
  assert.is(exit.reason, 'killed')
  assert.is(exit.exitCode, 137)

  const m = sh('while true; do sleep 1; done', { maxDurationSec: 1, killGraceMs: 30_000 })
  await begin(rt, m)
  const mexit = await finished(rt, m.id)
  assert.is(mexit.reason, 'max_duration_exceeded')
  assert.is(mexit.exitCode, 143) // SIGTERM, before the grace's kill
})

test('recover: a new runtime (a restarted daemon) re-adopts a running container; its output goes on with no gap and no repeat', async () => {
  const s = sh('i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i; sleep 0.01; done; echo done')
  const info = await begin(rt, s)
  const first = await outputUntil(rt, s.id, 'line-20\r\n')
  const firstBytes = Buffer.byteLength(first)
  const again = dockerRuntime({ rootDir: root, socketPath: SOCKET })
  const found = await within(again.recover(s.id, s.dir))
  assert.ok(found && !isJobExit(found), JSON.stringify(found))
  assert.is((found as JobInfo).pid, info.pid)
  assert.is((found as JobInfo).startedAt, info.startedAt)
  // A reader that had `first` carries on from its offset: nothing is missing, nothing comes twice.
  let rest = ''
  for await (const c of again.logs(s.id, { follow: true })) {
    if (c.offset + c.data.length <= firstBytes) continue
    rest += c.data.subarray(Math.max(0, firstBytes - c.offset)).toString()
  }
  const all = lines(first + rest)
  assert.equal(all, [...Array.from({ length: 400 }, (_, i) => `line-${i + 1}`), 'done'])
  assert.is((await within(again.wait(s.id))).exitCode, 0)
  // The old instance reads the same finished output.
  assert.is(await output(rt, s.id), first + rest)
})

test('recover after kill -9 of the daemon: the container ran on, its max_duration and a pending stop\'s kill still hold, an exited one gives its exit', async () => {
  const s = sh('echo started; while true; do sleep 1; done', { maxDurationSec: 6, killGraceMs: 500 })
  const q = sh('echo quick; exit 7')
  const st = sh('trap "" INT; while true; do sleep 1; done') // stopped with a grace just before the daemon dies
  // The "daemon": a process that starts the jobs, then is killed with SIGKILL.
  const fixture = fileURLToPath(new URL('./start-jobs.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, root, JSON.stringify([q, st, s]), JSON.stringify({ [st.id]: 3000 })], { stdio: ['ignore', 'pipe', 'inherit'] })
  let said = ''
  child.stdout.on('data', d => { said += d })
  await waitFor(() => said.includes('started 3'), { what: 'the fixture daemon to start its jobs' })
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  const again = dockerRuntime({ rootDir: root, socketPath: SOCKET })
  const qExit = await waitFor(async () => { const r = await again.recover(q.id, q.dir); return r && isJobExit(r) ? r : null }, { what: 'the quick job to have exited' })
  assert.is(qExit.exitCode, 7)
  assert.is(await output(again, q.id), 'quick\r\n')
  const found = await within(again.recover(s.id, s.dir))
  assert.ok(found && !isJobExit(found), `still running when re-adopted: ${JSON.stringify(found)}`)
  const exit = await within(again.wait(s.id))
  assert.is(exit.reason, 'max_duration_exceeded')
  assert.ok(exit.finishedAt - (found as JobInfo).startedAt >= 6000)
  assert.is(await within(again.recover('never-started', join(root, 'never-started'))), null)
  // The stop's kill after its grace was the dead daemon's to do: the new one does it, and the reason holds.
  const stopped = await within(again.recover(st.id, st.dir))
  assert.ok(stopped)
  const stExit = await within(again.wait(st.id))
  assert.is(stExit.reason, 'stopped')
  assert.is(stExit.exitCode, 137)
})

test('exec with a pty: a shell in the running job, resized, with its exit code', async () => {
  const s = await looping('', { env: { PATH: '/bin', JOBVAR: 'from-the-job' } })
  const session = await within(rt.exec!(s.id, { command: ['/bin/sh'], tty: { cols: 100, rows: 30 } }))
  let out = ''
  session.output.on('data', (d: Buffer) => { out += d.toString() })
  await session.resize!(123, 45)
  session.input.write('stty size; echo "$JOBVAR $((6*7))"; pwd; exit 5\n')
  assert.equal(await within(session.exited), { code: 5 })
  assert.match(out, /45 123/)
  assert.match(out, /from-the-job 42/)
  assert.match(out, /\/workflow/)
  await rt.kill(s.id)
  await finished(rt, s.id)
})

test('stats: CPU seconds and memory from the engine while it runs, null once it ended', async () => {
  const s = await looping('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done')
  const st = await within(rt.stats(s.id))
  assert.ok(st && st.cpuSeconds! > 0 && st.memoryBytes! > 0, JSON.stringify(st))
  await rt.kill(s.id)
  await finished(rt, s.id)
  assert.is(await rt.stats(s.id), null)
})

test('remove: the container goes, the output stays readable', async () => {
  const s = sh('echo kept')
  await begin(rt, s)
  await finished(rt, s.id)
  const before = await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${s.id}`] } })
  assert.is(before.length, 1)
  await rt.remove!(s.id)
  assert.is((await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${s.id}`] } })).length, 0)
  assert.is(await output(rt, s.id), 'kept\r\n')
  assert.equal(await within(rt.recover(s.id, s.dir)), await rt.wait(s.id))
})

test('privileged: where the engine refuses it, the capability set instead, and a note says so', async () => {
  const s = sh('grep CapEff /proc/self/status')
  s.container!.privileged = true
  const info = await begin(rt, s)
  assert.is((await finished(rt, s.id)).exitCode, 0)
  const caps = BigInt('0x' + /CapEff:\s+([0-9a-f]+)/.exec(await output(rt, s.id))![1])
  assert.ok((caps & (1n << 12n)) !== 0n, 'CAP_NET_ADMIN') // more than docker's default set
  const refused = info.notes?.some(n => n.startsWith('privileged: the engine refused'))
  const c = (await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${s.id}`] } }))[0]!
  const host = (await docker.getContainer(c.Id).inspect()).HostConfig
  assert.is(host.Privileged, !refused)
})

test('the engine going away: wait reports the job lost, naming the engine', async () => {
  // A socket of our own in front of the real engine, so "the engine" can go away without
  // touching the shared one.
  fs.mkdirSync(root, { recursive: true })
  const proxyPath = join(root, 'engine.sock')
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer(client => {
    const upstream = net.connect(SOCKET)
    sockets.add(client); sockets.add(upstream)
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>(r => proxy.listen(proxyPath, r))
  const viaProxy = dockerRuntime({ rootDir: root, socketPath: proxyPath, lostAfterMs: 1000, pollMs: 200 })
  const s = sh('echo ready; while true; do sleep 1; done')
  await begin(viaProxy, s)
  const waiting = viaProxy.wait(s.id)
  proxy.close()
  for (const so of sockets) so.destroy()
  const exit = await within(waiting)
  assert.is(exit.reason, 'lost')
  assert.match(exit.message!, new RegExp(`the Docker engine at ${proxyPath} stopped answering`))
  // The engine back (a daemon restarted onto it): the job stays lost, and its container, which
  // ran on meanwhile, does not outlive that.
  const back = dockerRuntime({ rootDir: root, socketPath: SOCKET })
  assert.equal(await within(back.recover(s.id, s.dir)), exit)
  await waitFor(async () => {
    const [c] = await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${s.id}`] } })
    return c && c.State !== 'running'
  }, { what: 'the lost job\'s container to be killed' })
})

test('no command: the image\'s own ENTRYPOINT and CMD run (SPEC §3.7); an image with neither does not start, and says so', async () => {
  // Two images of this test's own, made from local/busybox and removed after.
  const tag = `local/dstackd-test-own-${Date.now().toString(36)}`
  const build = (name: string, dockerfile: string) => new Promise<void>((resolve, reject) => {
    const p = spawn('docker', ['build', '-q', '-t', name, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', d => { err += d })
    p.on('exit', code => code === 0 ? resolve() : reject(new Error(`docker build ${name}: ${err}`)))
    p.stdin.end(dockerfile)
  })
  await build(`${tag}:cmd`, `FROM ${BUSYBOX}\nENTRYPOINT ["/bin/echo", "from the image:"]\nCMD ["its own command"]\n`)
  await build(`${tag}:none`, `FROM ${BUSYBOX}\nCMD []\n`)
  try {
    const own = spec([], {}, `${tag}:cmd`)
    await begin(rt, own)
    assert.is((await finished(rt, own.id)).exitCode, 0)
    assert.match(await output(rt, own.id), 'from the image: its own command')
    const none = await rt.start(spec([], {}, `${tag}:none`))
    assert.ok(isJobExit(none), 'it did not start')
    assert.match(none.message ?? '', `image ${tag}:none has no ENTRYPOINT or CMD`)
  } finally {
    await cleanup(root)
    for (const t of ['cmd', 'none']) await docker.getImage(`${tag}:${t}`).remove({ force: true }).catch(() => undefined)
  }
})

test.run()
