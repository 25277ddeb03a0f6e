// Container jobs side by side with the engine's own CLI, in the same run (target: ≤ 1.3×):
//   dstackd     `dstack apply -d -y` of an `image: local/busybox` task → its run is `running`
//               (a `sleep`)  vs  `docker run -d local/busybox sleep` (returns once started);
//               attached `dstack apply -y` of `true`, CLI start to exit  vs
//               `docker run --rm local/busybox true`
//   runtime     the docker runtime alone (start → wait → remove of `true`, no daemon, no CLI)
//               vs `docker run --rm`, with the time of each step
//   engine      the engine's steps through dockerode (create, start, wait, remove), with and
//               without an init process, and attaching to the output before start: where the
//               time of a container start goes, whoever drives it
// Each pair alternates which side goes first; numbers are medians (p95 where it says so).
// Needs root and an engine with local/busybox (scripts/ci/docker.sh). A section that cannot run
// here (a dstackd that refuses `image:`) says why and the others still run.
// Usage: node --import tsx scripts/bench/docker.ts [--rounds N (10)] [--only dstackd|runtime|engine]
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import Docker from 'dockerode'
import { dockerRuntime } from '../../drivers/runtime/docker/index.ts'
import { isJobExit } from '../../drivers/runtime/types.ts'
import { median, pct, timed } from './timed.ts'
import { apiClient, ROOT, sleep, startDaemon } from '../../test/e2e/harness.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const ROUNDS = Number(flag('--rounds') ?? 10)
const ONLY = flag('--only')
const IMAGE = 'local/busybox:latest'
const LABEL = { 'dstackd.bench': 'docker' }

const ms = (x: number) => `${x.toFixed(0)} ms`
const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`

async function ok (cmd: string, argv: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const r = await timed(cmd, argv, env)
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.code}:\n${r.out}`)
  return r.ms
}

/** `docker run --rm IMAGE true`, and `docker run -d IMAGE sleep` to started (removed untimed). */
const dockerCli = {
  async done (): Promise<number> { return ok('docker', ['run', '--rm', '--label', 'dstackd.bench=docker', IMAGE, 'true']) },
  async running (): Promise<number> {
    const r = await timed('docker', ['run', '-d', '--label', 'dstackd.bench=docker', IMAGE, 'sleep', '60'])
    if (r.code !== 0) throw new Error(`docker run -d exited ${r.code}: ${r.out}`)
    await timed('docker', ['rm', '-f', r.out.trim()])
    return r.ms
  }
}

const lines: string[] = []
const docker = new Docker()

async function dstackdSection (): Promise<void> {
  const d = await startDaemon()
  const c = await apiClient(d)
  try {
    const dstack = join(ROOT, 'tui', 'bin.js')
    const task = (cmd: string) => `type: task\nimage: ${IMAGE}\ncommands: [${JSON.stringify(cmd)}]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n`
    const doneFile = join(d.home, 'true.dstack.yml')
    const sleepFile = join(d.home, 'sleep.dstack.yml')
    await writeFile(doneFile, task('true'))
    await writeFile(sleepFile, task('sleep 60'))
    const first = await timed(dstack, ['apply', '-f', doneFile, '-y'], d.env) // warms the daemon up
    if (first.code !== 0) {
      lines.push(`dstackd: not measured: this dstackd does not run an image: task (${first.out.trim().split('\n').at(-1)})`)
      return
    }
    const applyDone: number[] = []
    const applyRunning: number[] = []
    const cliDone: number[] = []
    const cliRunning: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const pair = async () => {
        applyDone.push(await ok(dstack, ['apply', '-f', doneFile, '-y'], d.env))
        const name = `running-${i}`
        const t0 = performance.now()
        await ok(dstack, ['apply', '-f', sleepFile, '-d', '-y', '-n', name], d.env)
        for (;;) {
          const { runs } = await c.call('runs.list', { all: true })
          const run = runs.find(r => r.name === name)
          if (run?.status === 'running') break
          if (run !== undefined && ['done', 'failed', 'terminated'].includes(run.status)) throw new Error(`${name} ended ${run.status}: ${run.status_text}`)
          await sleep(5)
        }
        applyRunning.push(performance.now() - t0)
        await ok(dstack, ['stop', '-x', '-y', name], d.env)
      }
      const engine = async () => { cliDone.push(await dockerCli.done()); cliRunning.push(await dockerCli.running()) }
      if (i % 2 === 0) { await pair(); await engine() } else { await engine(); await pair() }
    }
    lines.push(`dstackd: \`dstack apply -d -y\` → running (a sleep): p50 ${ms(median(applyRunning))}, p95 ${ms(pct(applyRunning, 0.95))}  vs  \`docker run -d\`: p50 ${ms(median(cliRunning))}  → ${ratio(applyRunning, cliRunning)}`)
    lines.push(`dstackd: attached \`dstack apply -y\` of \`true\`, to exit: p50 ${ms(median(applyDone))}, p95 ${ms(pct(applyDone, 0.95))}  vs  \`docker run --rm ${IMAGE} true\`: p50 ${ms(median(cliDone))}  → ${ratio(applyDone, cliDone)}`)
  } finally {
    await c.close().catch(() => {})
    await d.cleanup()
  }
}

/** The docker runtime alone: start (pull check, create, start, inspect), wait (exit, output copied), remove. */
async function runtimeSection (): Promise<void> {
  const rt = dockerRuntime({ rootDir: join(scratch, 'jobs') })
  const rows: Array<Record<string, number>> = []
  const cli: number[] = []
  const once = async (i: number) => {
    const id = `bench-${process.pid}-${i}`
    const dir = join(scratch, 'jobs', id)
    const t: Record<string, number> = {}
    let t0 = performance.now()
    const step = (name: string) => { const now = performance.now(); t[name] = now - t0; t0 = now }
    const info = await rt.start({ id, dir, command: ['true'], env: { PATH: '/bin' }, workingDir: join(dir, 'work'), container: { image: IMAGE } })
    if (isJobExit(info)) throw new Error(`the runtime did not start true: ${info.message}`)
    step('start')
    const exit = await rt.wait(id)
    if (exit.exitCode !== 0) throw new Error(`true exited ${exit.exitCode}: ${exit.message}`)
    step('wait')
    await rt.remove!(id)
    step('remove')
    rows.push(t)
  }
  await once(-1) // the first start probes the engine
  rows.length = 0
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) { await once(i); cli.push(await dockerCli.done()) } else { cli.push(await dockerCli.done()); await once(i) }
  }
  const total = rows.map(r => Object.values(r).reduce((a, b) => a + b, 0))
  const steps = Object.keys(rows[0]!).map(s => `${s} ${ms(median(rows.map(r => r[s]!)))}`).join(', ')
  lines.push(`runtime: start → wait → remove of \`true\`: p50 ${ms(median(total))}, p95 ${ms(pct(total, 0.95))} (${steps})  vs  \`docker run --rm ${IMAGE} true\`: p50 ${ms(median(cli))}  → ${ratio(total, cli)}`)
}

/** The engine's steps for one container of `true`, through dockerode, each timed. */
async function engineSteps (opts: { init: boolean, attach: boolean }): Promise<Record<string, number>> {
  const t: Record<string, number> = {}
  let t0 = performance.now()
  const step = (name: string) => { const now = performance.now(); t[name] = now - t0; t0 = now }
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: LABEL, HostConfig: { Init: opts.init } })
  step('create')
  let drained: Promise<void> = Promise.resolve()
  if (opts.attach) {
    const stream = await c.attach({ stream: true, stdout: true, stderr: true })
    const sink = new PassThrough()
    sink.resume()
    drained = new Promise(resolve => stream.on('end', resolve))
    c.modem.demuxStream(stream, sink, sink)
    step('attach')
  }
  const exited = c.wait({ condition: 'next-exit' })
  await c.start()
  step('start')
  await exited
  await drained
  step('wait')
  await c.remove({ v: true })
  step('remove')
  return t
}

async function engineSection (): Promise<void> {
  const variants = [{ init: false, attach: false }, { init: true, attach: false }, { init: true, attach: true }]
  const results = variants.map(() => [] as Array<Record<string, number>>)
  const cli: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    cli.push(await dockerCli.done())
    for (const [k, v] of variants.entries()) results[k]!.push(await engineSteps(v))
  }
  lines.push(`engine: \`docker run --rm ${IMAGE} true\`: p50 ${ms(median(cli))}`)
  for (const [k, v] of variants.entries()) {
    const rows = results[k]!
    const total = rows.map(r => Object.values(r).reduce((a, b) => a + b, 0))
    const steps = Object.keys(rows[0]!).map(s => `${s} ${ms(median(rows.map(r => r[s]!)))}`).join(', ')
    lines.push(`engine: dockerode create → start → wait → remove${v.init ? ', Init' : ''}${v.attach ? ', attached to the output' : ''}: p50 ${ms(median(total))} (${steps})  → ${ratio(total, cli)} of docker run --rm`)
  }
}

async function cleanupLabelled (): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: ['dstackd.bench=docker'] } })
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})
}

const sections: Record<string, () => Promise<void>> = { dstackd: dstackdSection, runtime: runtimeSection, engine: engineSection }
const scratch = await mkdtemp(join(tmpdir(), 'dstackd-bench-docker-'))
try {
  await docker.ping()
  await docker.getImage(IMAGE).inspect()
  for (const [name, run] of Object.entries(sections)) {
    if (ONLY !== undefined && ONLY !== name) continue
    process.stderr.write(`[bench] ${name}\n`)
    try {
      await run()
    } catch (err) {
      lines.push(`${name}: failed: ${(err as Error).message}`)
    }
  }
  lines.push(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}, load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
  console.log(lines.join('\n'))
} finally {
  await cleanupLabelled()
  for (const c of await docker.listContainers({ all: true, filters: { label: ['dstackd.job'] } })) {
    if (c.Labels['dstackd.dir']?.startsWith(scratch)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})
  }
  await rm(scratch, { recursive: true, force: true })
}
