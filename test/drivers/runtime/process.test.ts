// The process runtime on real processes: its supervisor, ptys, signals, cgroups. No mocks.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { isJobExit, processRuntime, type JobExit, type JobInfo, type JobSpec, type Runtime } from '../../../drivers/runtime/index.ts'
import { waitFor } from '../../poll.ts'

const root = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-runtime-test-'))
const PATH = '/usr/local/bin:/usr/bin:/bin'
const rt = processRuntime({ rootDir: root })
const started: Array<{ id: string, dir: string }> = []
let n = 0

function spec (command: string[], extra: Partial<JobSpec> = {}): JobSpec {
  const id = `job-${++n}`
  const dir = join(root, id)
  started.push({ id, dir })
  return { id, dir, command, env: { PATH }, workingDir: join(root, 'work', id), ...extra }
}

const bash = (script: string, extra: Partial<JobSpec> = {}) => spec(['/bin/bash', '-c', script], extra)

/** Rejects after ms: only to keep a broken test from hanging, never a measurement. */
function within<T> (p: Promise<T>, ms = 20_000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms) })
  ])
}

async function output (r: Runtime, id: string, opts: { since?: number } = {}): Promise<string> {
  let s = ''
  for await (const c of r.logs(id, opts)) s += c.data.toString()
  return s
}

/** Follows the job's output until text shows up. */
async function waitForOutput (r: Runtime, id: string, text: string): Promise<void> {
  const ac = new AbortController()
  let s = ''
  await within((async () => {
    for await (const c of r.logs(id, { follow: true, signal: ac.signal })) {
      s += c.data.toString()
      if (s.includes(text)) { ac.abort(); return }
    }
    throw new Error(`job ${id} ended without printing ${JSON.stringify(text)}: ${JSON.stringify(s)}`)
  })(), 20_000, `waiting for ${JSON.stringify(text)}`)
}

/** Starts the job, which must start. */
async function begin (r: Runtime, s: JobSpec): Promise<JobInfo> {
  const got = await within(r.start(s))
  if (isJobExit(got)) throw new Error(`job ${s.id} did not start: ${got.message}`)
  return got
}

/** Recovers a job the runtime must know. */
async function recovered (r: Runtime, s: JobSpec): Promise<JobInfo | JobExit> {
  const got = await within(r.recover(s.id, s.dir))
  if (got === null) throw new Error(`job ${s.id} was not found`)
  return got
}

async function rejects (p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p } catch (e) { assert.match((e as Error).message, re); return }
  assert.unreachable(`expected a rejection matching ${re}`)
}

const lines = (s: string) => s.split(/\r?\n/).filter(l => l !== '')

function gone (pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') // a zombie waiting for init is gone
  } catch {
    return true
  }
}

const runnerOf = (dir: string) => JSON.parse(fs.readFileSync(join(dir, 'runner.json'), 'utf8')) as { runnerPid: number, pid: number, cgroups: string[] }

test('exit code 0: the output is recorded and the reason is exited', async () => {
  const s = spec(['/bin/echo', 'hello from the job'])
  const info = await begin(rt, s)
  assert.is(info.id, s.id)
  assert.ok(info.pid > 0)
  assert.ok(info.startedAt > 0)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.exitCode, 0)
  assert.is(exit.signal, null)
  assert.is(exit.reason, 'exited')
  assert.ok(exit.finishedAt >= info.startedAt)
  assert.ok((await output(rt, s.id)).includes('hello from the job'))
  assert.equal(JSON.parse(fs.readFileSync(join(s.dir, 'exit.json'), 'utf8')), exit)
})

test('exit code 3 is reported as exitCode 3, reason exited', async () => {
  const s = bash('echo failing; exit 3')
  await begin(rt, s)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.exitCode, 3)
  assert.is(exit.reason, 'exited')
})

test('the environment is exactly the spec\'s (nothing of the daemon\'s leaks in)', async () => {
  const env = { PATH, FOO: 'bar', WITH_SPACE: 'a b  c', TERM: 'dumb', DSTACK_RUN_NAME: 'x=y' }
  const s = spec(['/usr/bin/env'], { env })
  await begin(rt, s)
  assert.is((await within(rt.wait(s.id))).exitCode, 0)
  assert.equal(lines(await output(rt, s.id)).sort(), Object.entries(env).map(([k, v]) => `${k}=${v}`).sort())

  // Without TERM in the spec the terminal's name is given, and only that.
  const s2 = spec(['/usr/bin/env'], { env: { A: '1' } })
  await begin(rt, s2)
  await within(rt.wait(s2.id))
  assert.equal(lines(await output(rt, s2.id)).sort(), ['A=1', 'TERM=xterm-256color'])
})

test('the working dir is created and used', async () => {
  const s = bash('pwd; echo made > here.txt')
  s.workingDir = join(root, 'deep', 'er', 'wd')
  await begin(rt, s)
  assert.is((await within(rt.wait(s.id))).exitCode, 0)
  assert.ok(lines(await output(rt, s.id)).includes(s.workingDir))
  assert.is(fs.readFileSync(join(s.workingDir, 'here.txt'), 'utf8'), 'made\n')
})

test('lossless output: 5,000 lines printed just before exit are all there, in order', async () => {
  const direct = spec(['/usr/bin/seq', '1', '5000']) // the session leader itself exits right after writing
  const looped = bash('for i in $(seq 1 5000); do echo "line $i"; done; exit 0')
  await begin(rt, direct)
  await begin(rt, looped)
  assert.is((await within(rt.wait(direct.id))).exitCode, 0)
  assert.is((await within(rt.wait(looped.id))).exitCode, 0)
  assert.equal(lines(await output(rt, direct.id)), Array.from({ length: 5000 }, (_, i) => String(i + 1)))
  assert.equal(lines(await output(rt, looped.id)), Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`))
  // The index covers the log: offsets rise from 0 and stay inside the file.
  const idx = fs.readFileSync(join(direct.dir, 'output.idx'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as { o: number, t: number })
  assert.is(idx[0]!.o, 0)
  const size = fs.statSync(join(direct.dir, 'output.log')).size
  for (let i = 1; i < idx.length; i++) {
    assert.ok(idx[i]!.o > idx[i - 1]!.o && idx[i]!.o < size)
    assert.ok(idx[i]!.t >= idx[i - 1]!.t)
  }
})

test('a background command (cmd &) is killed when the main command ends', async () => {
  const plain = bash('sleep 300 & echo $! > bg.pid; echo started')
  // bash -i gives background jobs their own process group: they must die all the same.
  const interactive = spec(['/bin/bash', '-i', '-c', 'echo a && { sleep 300 & echo $! > bg.pid; } && echo b'])
  for (const s of [plain, interactive]) {
    await begin(rt, s)
    const exit = await within(rt.wait(s.id))
    assert.is(exit.exitCode, 0)
    const bg = Number(fs.readFileSync(join(s.workingDir, 'bg.pid'), 'utf8'))
    assert.ok(bg > 0)
    await waitFor(() => gone(bg), { what: `background pid ${bg} to be gone`, timeout: 10_000 })
  }
  assert.ok((await output(rt, interactive.id)).includes('b'))
})

test('a process that left the session but kept the terminal is ended too', async () => {
  const s = bash('setsid sleep 300 & echo $! > escaped.pid; echo done')
  await begin(rt, s)
  assert.is((await within(rt.wait(s.id))).exitCode, 0)
  const escaped = Number(fs.readFileSync(join(s.workingDir, 'escaped.pid'), 'utf8'))
  assert.ok(escaped > 0)
  await waitFor(() => gone(escaped), { what: `escaped pid ${escaped} to be gone`, timeout: 10_000 })
})

test('the job survives kill -9 of the daemon that started it, and a new daemon re-adopts it', async () => {
  const s = bash('for i in $(seq 1 30); do echo "n $i"; sleep 0.05; done; exit 9')
  const runtimeUrl = new URL('../../../drivers/runtime/index.ts', import.meta.url).href
  const script = `import { processRuntime } from ${JSON.stringify(runtimeUrl)}
    const rt = processRuntime({ rootDir: ${JSON.stringify(root)} })
    const info = await rt.start(${JSON.stringify(s)})
    process.stdout.write(JSON.stringify(info) + '\\n')
    void rt.wait(info.id)
    setInterval(() => {}, 1000)`
  const { spawn } = await import('node:child_process')
  const daemon = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const info = await within(new Promise<JobInfo>((resolve, reject) => {
    let out = ''
    daemon.stdout.on('data', d => { out += d; if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as JobInfo) })
    daemon.on('exit', code => reject(new Error(`the daemon exited (${code}) before starting the job`)))
  }), 30_000, 'the daemon starting the job')
  daemon.kill('SIGKILL')
  await waitFor(() => daemon.exitCode !== null || daemon.signalCode !== null, { what: 'the daemon to die', timeout: 10_000 })
  assert.not.ok(gone(info.pid), 'the job outlived the daemon')
  const restarted = processRuntime({ rootDir: root })
  const got = await recovered(restarted, s)
  const exit = isJobExit(got) ? got : await within(restarted.wait(s.id))
  assert.is(exit.exitCode, 9)
  assert.equal(lines(await output(restarted, s.id)), Array.from({ length: 30 }, (_, i) => `n ${i + 1}`))
})

test('the supervisor outlives kill -9 of its daemon and runs the job on; with no daemon and no job left it exits', async () => {
  const first = bash('echo first')
  const s = bash('for i in $(seq 1 20); do echo "n $i"; sleep 0.05; done; exit 4')
  const runtimeUrl = new URL('../../../drivers/runtime/index.ts', import.meta.url).href
  // A root of its own, so that no other test's daemon keeps this supervisor busy.
  const own = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-supervisor-test-'))
  for (const x of [first, s]) { x.dir = join(own, x.id); x.workingDir = join(own, 'work', x.id) }
  const script = `import { processRuntime } from ${JSON.stringify(runtimeUrl)}
    const rt = processRuntime({ rootDir: ${JSON.stringify(own)} })
    await rt.wait((await rt.start(${JSON.stringify(first)})).id)
    const info = await rt.start(${JSON.stringify(s)})
    process.stdout.write(JSON.stringify(info) + '\\n')
    setInterval(() => {}, 1000)`
  const { spawn } = await import('node:child_process')
  const daemon = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const info = await within(new Promise<JobInfo>((resolve, reject) => {
      let out = ''
      daemon.stdout.on('data', d => { out += d; if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!)) })
      daemon.on('exit', code => reject(new Error(`the daemon exited (${code}) before starting the jobs`)))
    }), 30_000, 'the daemon starting the jobs')
    const supervisor = runnerOf(s.dir).runnerPid
    assert.is(runnerOf(first.dir).runnerPid, supervisor, 'one supervisor ran both jobs')
    assert.is.not(supervisor, daemon.pid)
    daemon.kill('SIGKILL')
    await waitFor(() => daemon.exitCode !== null || daemon.signalCode !== null, { what: 'the daemon to die' })
    assert.not.ok(gone(info.pid), 'the job outlived the daemon')
    assert.not.ok(gone(supervisor), 'so did its supervisor')
    // The job ends while no daemon runs: its exit is recorded all the same, then the supervisor goes.
    await waitFor(() => fs.existsSync(join(s.dir, 'exit.json')), { what: 'the exit record', timeout: 10_000 })
    await waitFor(() => gone(supervisor), { what: 'the idle supervisor to exit', timeout: 10_000 })
    const restarted = processRuntime({ rootDir: own })
    const got = await recovered(restarted, s)
    assert.ok(isJobExit(got))
    assert.is((got as JobExit).exitCode, 4)
    assert.equal(lines(await output(restarted, s.id)), Array.from({ length: 20 }, (_, i) => `n ${i + 1}`))
    // The next job starts a new supervisor.
    const next = bash('echo again')
    next.dir = join(own, next.id)
    await begin(restarted, next)
    assert.is((await within(restarted.wait(next.id))).exitCode, 0)
    assert.is.not(runnerOf(next.dir).runnerPid, supervisor)
  } finally {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL')
    fs.rmSync(own, { recursive: true, force: true })
  }
})

test('a supervisor that dies loses no record of a finished job, and the next start brings a new one', async () => {
  const done = bash('echo finished; exit 6')
  await begin(rt, done)
  assert.is((await within(rt.wait(done.id))).exitCode, 6)
  const running = bash('echo ready; sleep 300')
  await begin(rt, running)
  await waitForOutput(rt, running.id, 'ready')
  const supervisor = runnerOf(running.dir).runnerPid
  const waiting = rt.wait(running.id)
  process.kill(supervisor, 'SIGKILL')
  assert.is((await within(waiting)).reason, 'lost')
  const restarted = processRuntime({ rootDir: root })
  const got = await recovered(restarted, done)
  assert.ok(isJobExit(got))
  assert.is((got as JobExit).exitCode, 6)
  assert.ok((await output(restarted, done.id)).includes('finished'))
  const after = bash('echo after')
  await begin(rt, after)
  assert.is((await within(rt.wait(after.id))).exitCode, 0)
  assert.is.not(runnerOf(after.dir).runnerPid, supervisor)
})

test('jobs running side by side cannot reach each other\'s terminal', async () => {
  const a = bash('echo ready; sleep 300')
  await begin(rt, a)
  await waitForOutput(rt, a.id, 'ready')
  // Every descriptor b holds past stdio is listed: none may be a terminal's master (ptmx).
  const b = bash('for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && readlink "$f"; done; true')
  await begin(rt, b)
  assert.is((await within(rt.wait(b.id))).exitCode, 0)
  assert.not.match(await output(rt, b.id), /ptmx/)
  await rt.kill(a.id)
  await within(rt.wait(a.id))
})

test('stop: SIGINT reaches the job (a trap runs), reason stopped', async () => {
  const s = bash('trap "echo got INT; exit 42" INT; echo ready; while :; do sleep 0.1; done')
  await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  await rt.stop(s.id, 10_000)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.reason, 'stopped')
  assert.is(exit.exitCode, 42)
  assert.ok((await output(rt, s.id)).includes('got INT'))
})

test('stop: a job ignoring SIGINT is killed after the grace', async () => {
  const s = bash('trap "" INT; echo ready; while :; do sleep 0.1; done')
  await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  await rt.stop(s.id, 300)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.reason, 'stopped')
  assert.is(exit.exitCode, null)
  assert.is(exit.signal, 'SIGKILL')
})

test('kill: at once, reason killed', async () => {
  const s = bash('trap "" INT TERM; echo ready; sleep 300')
  const info = await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  await rt.kill(s.id)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.reason, 'killed')
  assert.is(exit.signal, 'SIGKILL')
  await waitFor(() => gone(info.pid), { what: 'the job to be gone', timeout: 10_000 })
  // Stopping or killing a finished job is harmless.
  await rt.stop(s.id, 10)
  await rt.kill(s.id)
})

test('max_duration: SIGTERM at the deadline, reason max_duration_exceeded', async () => {
  const s = spec(['/bin/sleep', '300'], { maxDurationSec: 1 })
  await begin(rt, s)
  const exit = await within(rt.wait(s.id))
  assert.is(exit.reason, 'max_duration_exceeded')
  assert.is(exit.signal, 'SIGTERM')

  // One that ignores SIGTERM is killed after killGraceMs.
  const stubborn = bash('trap "" TERM; while :; do sleep 0.1; done', { maxDurationSec: 1, killGraceMs: 200 })
  await begin(rt, stubborn)
  const exit2 = await within(rt.wait(stubborn.id))
  assert.is(exit2.reason, 'max_duration_exceeded')
  assert.is(exit2.signal, 'SIGKILL')
})

test('logs since: chunks before the timestamp are skipped', async () => {
  const s = bash('echo first; sleep 0.3; echo second; sleep 0.3; echo third')
  await begin(rt, s)
  await within(rt.wait(s.id))
  const chunks: Array<{ at: number, offset: number, text: string }> = []
  for await (const c of rt.logs(s.id)) chunks.push({ at: c.at, offset: c.offset, text: c.data.toString() })
  const second = chunks.find(c => c.text.includes('second'))!
  assert.ok(second)
  const first = chunks.find(c => c.text.includes('first'))!
  assert.ok(first.at < second.at)
  // offsets are contiguous
  for (let i = 1; i < chunks.length; i++) assert.is(chunks[i]!.offset, chunks[i - 1]!.offset + Buffer.byteLength(chunks[i - 1]!.text))
  const since = await output(rt, s.id, { since: second.at })
  assert.not.ok(since.includes('first'))
  assert.ok(since.includes('second'))
  assert.ok(since.includes('third'))
  assert.is(await output(rt, s.id, { since: Date.now() + 60_000 }), '')
})

test('logs follow: yields output as it comes and ends after the exit', async () => {
  const s = bash('for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.1; done; echo done')
  await begin(rt, s)
  let text = ''
  await within((async () => { for await (const c of rt.logs(s.id, { follow: true })) text += c.data.toString() })(), 20_000, 'logs follow')
  assert.equal(lines(text), ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5', 'done'])
  assert.is((await rt.wait(s.id)).exitCode, 0)

  // An abort signal ends a follow of a job that keeps running.
  const long = bash('echo up; sleep 300')
  await begin(rt, long)
  const ac = new AbortController()
  let seen = ''
  await within((async () => {
    for await (const c of rt.logs(long.id, { follow: true, signal: ac.signal })) {
      seen += c.data.toString()
      if (seen.includes('up')) setTimeout(() => ac.abort(), 50)
    }
  })(), 20_000, 'aborted follow')
  assert.ok(seen.includes('up'))
  await rt.kill(long.id)
  assert.is((await within(rt.wait(long.id))).reason, 'killed')
})

test('stats: numbers while running, null after', async () => {
  const s = bash('echo ready; while :; do :; done')
  await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  const st = await rt.stats(s.id)
  assert.ok(st)
  assert.type(st!.cpuSeconds, 'number')
  assert.ok(st!.memoryBytes! > 0)
  await rt.kill(s.id)
  await within(rt.wait(s.id))
  assert.is(await rt.stats(s.id), null)
})

test('recover: a running job is re-adopted by a new runtime (as after a daemon restart)', async () => {
  const s = bash('echo before; read -t 1 x; echo after; exit 7')
  const info = await begin(rt, s)
  const restarted = processRuntime({ rootDir: root })
  const got = await recovered(restarted, s)
  assert.not.ok(isJobExit(got))
  const re = got as JobInfo
  assert.is(re.pid, info.pid)
  assert.is(re.startedAt, info.startedAt)
  const exit = await within(restarted.wait(s.id))
  assert.is(exit.exitCode, 7)
  assert.is(exit.reason, 'exited')
  const text = await output(restarted, s.id)
  assert.ok(text.includes('before') && text.includes('after'))
})

test('recover: a re-adopted job can be stopped by the new runtime', async () => {
  const s = bash('trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.1; done')
  await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  const restarted = processRuntime({ rootDir: root })
  assert.not.ok(isJobExit(await recovered(restarted, s)))
  await restarted.stop(s.id, 10_000)
  const exit = await within(restarted.wait(s.id))
  assert.is(exit.reason, 'stopped')
  assert.is(exit.exitCode, 5)
})

test('recover: a job that finished while the daemon was down gives its exit', async () => {
  const s = bash('sleep 0.2; exit 4')
  await within(rt.start(s))
  await waitFor(() => fs.existsSync(join(s.dir, 'exit.json')), { what: 'exit.json', timeout: 10_000 })
  const restarted = processRuntime({ rootDir: root })
  const got = await recovered(restarted, s)
  assert.ok(isJobExit(got))
  assert.is((got as JobExit).exitCode, 4)
  assert.is((got as JobExit).reason, 'exited')
  assert.is((await restarted.wait(s.id)).exitCode, 4)
})

test('recover: a job whose supervisor vanished without an exit record is lost', async () => {
  // A runtime of its own that nothing waits on, as the daemon that went down.
  const before = processRuntime({ rootDir: root })
  const s = bash('echo ready; sleep 300')
  const info = await begin(before, s)
  await waitFor(() => fs.readFileSync(join(s.dir, 'output.log'), 'utf8').includes('ready'), { what: 'ready', timeout: 10_000 })
  const { runnerPid } = runnerOf(s.dir)
  process.kill(runnerPid, 'SIGKILL')
  try { process.kill(-info.pid, 'SIGKILL') } catch {}
  await waitFor(() => gone(runnerPid) && gone(info.pid), { what: 'the supervisor and the job to be gone', timeout: 10_000 })
  const restarted = processRuntime({ rootDir: root })
  const got = await recovered(restarted, s)
  assert.ok(isJobExit(got))
  const exit = got as JobExit
  assert.is(exit.reason, 'lost')
  assert.is(exit.message, "the job's process disappeared while dstackd was down")
  assert.equal(await restarted.wait(s.id), exit)
})

test('wait: a supervisor that dies while the daemon is up gives reason lost', async () => {
  const s = bash('trap "" HUP; echo ready; sleep 300')
  const info = await begin(rt, s)
  await waitForOutput(rt, s.id, 'ready')
  const waiting = rt.wait(s.id)
  process.kill(runnerOf(s.dir).runnerPid, 'SIGKILL')
  const exit = await within(waiting)
  assert.is(exit.reason, 'lost')
  // What was left of the job (here a shell ignoring SIGHUP) was ended.
  await waitFor(() => gone(info.pid), { what: 'the orphaned job to be gone', timeout: 10_000 })
})

test('cgroup limits: a memory hog is OOM-killed past limits.memoryBytes (or applied: false with a reason)', async () => {
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
  const s = spec([python, '-c', 'a = bytearray(400*1024*1024); print("survived", len(a))'], { limits: { memoryBytes: 100 * 1024 * 1024, cpus: 0.5 } })
  const info = await begin(rt, s)
  const exit = await within(rt.wait(s.id), 60_000)
  if (info.limits.applied) {
    assert.ok(info.limits.cgroup)
    assert.ok(exit.exitCode !== 0 || exit.signal !== null, `expected an OOM kill, got ${JSON.stringify(exit)}`)
    assert.not.ok((await output(rt, s.id)).includes('survived'))
    assert.match(exit.message ?? '', /memory limit/)
    for (const d of runnerOf(s.dir).cgroups) assert.not.ok(fs.existsSync(d), `${d} removed`)
  } else {
    assert.type(info.limits.why, 'string')
    assert.ok(info.limits.why!.length > 0)
    assert.not.ok(hostHasWritableMemoryCgroupV1(), `limits not applied on a host where they could be: ${info.limits.why}`)
  }
})

test('cgroup limits: the CPU quota is set while the job runs, and the cgroups go with it', async () => {
  const s = spec(['/bin/sleep', '300'], { limits: { cpus: 0.5 } })
  const info = await begin(rt, s)
  const { cgroups } = runnerOf(s.dir)
  if (info.limits.applied) {
    const quota = cgroups.map(d => join(d, 'cpu.cfs_quota_us')).find(f => fs.existsSync(f))
    if (quota) assert.is(fs.readFileSync(quota, 'utf8').trim(), '50000')
    else assert.is(fs.readFileSync(join(cgroups[0]!, 'cpu.max'), 'utf8').trim(), '50000 100000')
    const procs = fs.readFileSync(join(cgroups[0]!, 'cgroup.procs'), 'utf8')
    assert.ok(procs.split('\n').includes(String(info.pid)), 'the command is in the cgroup')
    assert.not.ok(procs.split('\n').includes(String(runnerOf(s.dir).runnerPid)), 'the supervisor left it')
  } else {
    assert.ok(info.limits.why)
  }
  await rt.kill(s.id)
  await within(rt.wait(s.id))
  for (const d of cgroups) assert.not.ok(fs.existsSync(d), `${d} removed`)
})

test('start rejects a bad spec and a reused job dir', async () => {
  await rejects(rt.start({ ...spec(['/bin/true']), id: '../escape' }), /not safe/)
  await rejects(rt.start(spec([])), /command/)
  await rejects(rt.start({ ...spec(['/bin/true']), workingDir: 'relative' }), /absolute/)
  const s = spec(['/bin/true'])
  await begin(rt, s)
  await within(rt.wait(s.id))
  await rejects(rt.start({ ...s, id: `${s.id}-again` }), /already holds a job/)
  await rejects(rt.wait('never-started'), /unknown job/)
})

test('a missing command fails like a shell would, with the error in the output', async () => {
  const s = spec(['/nonexistent/program'])
  await begin(rt, s)
  const exit = await within(rt.wait(s.id))
  assert.is.not(exit.exitCode, 0)
  assert.ok((await output(rt, s.id)).includes('No such file'))
})

test('many jobs at once: all start and all are waited for', async () => {
  const specs = Array.from({ length: 30 }, (_, i) => bash(`echo job ${i}; exit ${i % 3}`))
  await within(Promise.all(specs.map(s => rt.start(s))), 60_000, 'starting 30 jobs')
  const exits = await within(Promise.all(specs.map(s => rt.wait(s.id))), 60_000, 'waiting for 30 jobs')
  exits.forEach((e, i) => assert.is(e.exitCode, i % 3))
})

function hostHasWritableMemoryCgroupV1 (): boolean {
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return false // v2: not probed here
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find(l => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))
  if (!line) return false
  const probe = join('/sys/fs/cgroup/memory', line.slice(line.lastIndexOf(':') + 1), `dstackd-probe-${process.pid}`)
  try { fs.mkdirSync(probe); fs.rmdirSync(probe); return true } catch { return false }
}

test.after(async () => {
  // Leave nothing behind: kill what still runs, then make sure supervisors and jobs are gone.
  for (const { id, dir } of started) {
    if (!fs.existsSync(join(dir, 'runner.json')) || fs.existsSync(join(dir, 'exit.json'))) continue
    try { await rt.kill(id); await within(rt.wait(id), 10_000) } catch {}
  }
  for (const { dir } of started) {
    try {
      const r = runnerOf(dir)
      for (const pid of [r.runnerPid]) { if (!gone(pid)) process.kill(pid, 'SIGKILL') }
      try { process.kill(-r.pid, 'SIGKILL') } catch {}
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true })
})

test('exec: a command in the running job with its env and working dir, stderr apart, its exit code and signal', async () => {
  const s = bash('echo up; sleep 60', { env: { PATH, JOBVAR: 'from-the-job' } })
  await begin(rt, s)
  await waitForOutput(rt, s.id, 'up')
  const piped = await within(rt.exec!(s.id, { command: ['/bin/sh', '-c', 'echo "$JOBVAR $EXTRA $(pwd)"; echo oops >&2; cat; exit 4'], env: { EXTRA: 'extra' } }))
  let out = ''
  let err = ''
  piped.output.on('data', (d: Buffer) => { out += d.toString() })
  piped.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  piped.input.end('from stdin\n')
  assert.equal(await within(piped.exited), { code: 4 })
  assert.is(out, `from-the-job extra ${s.workingDir}\nfrom stdin\n`)
  assert.is(err, 'oops\n')
  const pty = await within(rt.exec!(s.id, { command: ['/bin/sh'], tty: { cols: 100, rows: 30 } }))
  let screen = ''
  pty.output.on('data', (d: Buffer) => { screen += d.toString() })
  await pty.resize!(123, 45)
  pty.input.write('stty size; exec sleep 60\n')
  await within((async () => { while (!/45 123/.test(screen)) await new Promise(resolve => setTimeout(resolve, 50)) })(), 20_000, 'the resized pty')
  pty.signal!('TERM')
  assert.equal(await within(pty.exited), { code: null, signal: 'SIGTERM' })
  await rt.kill(s.id)
  await within(rt.wait(s.id))
  await rejects(rt.exec!(s.id, { command: ['true'] }), /not running/)
})

test.run()

test('recover: a job this runtime never started gives null', async () => {
  const s = spec(['/bin/true'])
  assert.is(await within(rt.recover(s.id, s.dir)), null)
})

test('a command the supervisor cannot start: start resolves with its JobExit, not a rejection', async () => {
  if (process.getuid?.() !== 0) {
    // Not root: another user is refused before anything starts.
    await rejects(rt.start({ ...spec(['/bin/true']), user: { uid: 65533, gid: 65533 } }), /cannot run a job as uid 65533/)
    return
  }
  // A group the host does not have: the supervisor fails before the fork and says so.
  const s = { ...spec(['/bin/true']), user: { uid: 65533, gid: 65533, groups: ['no-such-group-here' as unknown as number] } }
  const got = await within(rt.start(s))
  assert.ok(isJobExit(got), JSON.stringify(got))
  assert.match((got as JobExit).message ?? '', /could not start the command: .*no-such-group-here/)
  assert.equal(await within(rt.wait(s.id)), got)
})

test('user: as root, the command runs as that uid and gid with no other group, and owns its terminal', async () => {
  if (process.getuid?.() !== 0) { console.log('  (skipped: needs root)'); return }
  fs.chmodSync(root, 0o711)
  const s = bash('id -u; id -g; id -G; stat -c "tty %u" "$(tty)"; cat "$SPEC" && echo READ || echo DENIED', {
    user: { uid: 65533, gid: 65534 }, workingDir: '/tmp'
  })
  s.env.SPEC = join(s.dir, 'spec.json')
  await begin(rt, s)
  assert.is((await within(rt.wait(s.id))).exitCode, 0)
  assert.equal(lines(await output(rt, s.id)).filter(l => !l.includes('Permission denied')), ['65533', '65534', '65534', 'tty 65533', 'DENIED'])
  assert.is(fs.statSync(s.dir).mode & 0o777, 0o711, 'the job dir: pass through only')
  assert.is(fs.statSync(join(s.dir, 'spec.json')).mode & 0o777, 0o600)
  assert.is(fs.statSync(join(s.dir, 'output.log')).mode & 0o777, 0o600)
})
