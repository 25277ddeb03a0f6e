// dstack side by side with Slurm on this machine, in the same run:
//   latency     an attached `dstack apply -y` of a one-line task, from the CLI's start to its
//               exit (p50, p95)  vs  `srun -n1 true` (slurm-bench.sh's srun_latency_s)
//   throughput  200 trivial tasks, one `dstack apply -d -y` after another, then wait for all
//               to be done (jobs/s)  vs  200 × `sbatch --oversubscribe -p over --wrap true` then
//               wait for all (slurm-bench.sh's "over" mode, single-node Slurm with
//               SchedulerParameters=batch_sched_delay=0)
// Rounds alternate Slurm and dstack so both see the same load; each number is the median of
// the rounds. `dstack` runs as an installed command does: its bin executed as a program, so
// from the first `apply -d -y` on, a resident client runs the submissions (tui/resident.cjs; its
// CPU counts as the client's, its start included).
// Slurm: /work/shared/bench/slurm/ (or --slurm-dir DIR) starts it into a temporary RUN_DIR,
// measures it and stops it; it needs root (it installs its Debian packages when missing).
// `--before DIR` measures another checkout (built, with node_modules) in the same rounds,
// CLI and daemon both: how this one compares with, say, main.
// Usage: node --import tsx scripts/bench/slurm.ts [--rounds N (3)] [--jobs N (200)]
//          [--applies N (10 per round)] [--slurm-dir DIR] [--no-slurm] [--before DIR]
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import type { ApiClient } from '../../daemon/api/client.ts'
import { median, pct, timed } from './timed.ts'
import { apiClient, ROOT, sleep, startDaemon, type Daemon } from '../../test/e2e/harness.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const ROUNDS = Number(flag('--rounds') ?? 3)
const JOBS = Number(flag('--jobs') ?? 200)
const APPLIES = Number(flag('--applies') ?? 10)
const SLURM_DIR = flag('--slurm-dir') ?? '/work/shared/bench/slurm'
const BEFORE = flag('--before')
const TASK = 'type: task\ncommands: [echo hi]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n'
const FINAL = ['done', 'failed', 'terminated']

/** A checkout under test: its daemon, and its `dstack` run as a program. */
interface Side { label: string, root: string, d: Daemon, c: ApiClient, file: string, applyMs: number[], tp: number[], cpu: Cpu[] }

/** CPU per job of the throughput runs (ms): the clients, the daemon, what runs the jobs (runners or the supervisor, with the commands). */
interface Cpu { client: number, daemon: number, runners: number }

/**
 * CPU time (ms) from /proc/PID/stat: the process's own, and that of its children it has waited
 * for (the bench's: every `dstack` it ran; a daemon's: the job runners, which it reaps).
 * Less at the mercy of the machine's load than wall time.
 */
async function cpuOf (pid: number | 'self'): Promise<{ own: number, children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number) // state is f[0]: utime is f[11]
  const tick = 1000 / 100 // USER_HZ
  return { own: (f[11]! + f[12]!) * tick, children: (f[13]! + f[14]!) * tick }
}

/**
 * The CPU (ms) of a process's live children, each with what it reaped: the supervisor of the
 * jobs, which lives on and so never shows in its daemon's reaped children.
 */
async function liveChildrenCpu (parent: number): Promise<Map<number, number>> {
  const out = new Map<number, number>()
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'latin1')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== parent) continue
      const c = await cpuOf(Number(name))
      out.set(Number(name), c.own + c.children)
    } catch {} // gone meanwhile
  }
  return out
}

/** What the daemon's children used between two looks: those reaped (in full) and those still alive. */
function childrenDelta (reaped0: number, reaped1: number, live0: Map<number, number>, live1: Map<number, number>): number {
  let ms = reaped1 - reaped0
  for (const [pid, cpu] of live1) ms += cpu - (live0.get(pid) ?? 0)
  for (const [pid, cpu] of live0) if (!live1.has(pid)) ms -= cpu // reaped meanwhile: counted in full above
  return ms
}

async function startSide (label: string, root: string): Promise<Side> {
  // Another checkout's daemon: the harness starts `node daemon/bin.js run …` of this one, and
  // the shell line swaps in that checkout's bin ($0 is node, $1 this checkout's bin).
  const prefix = root === ROOT ? [] : ['/bin/sh', '-c', `node=$0; shift; exec "$node" ${JSON.stringify(join(root, 'daemon', 'bin.js'))} "$@"`]
  const d = await startDaemon({ prefix })
  const c = await apiClient(d)
  const file = join(d.home, 'hello.dstack.yml')
  await writeFile(file, TASK)
  const side: Side = { label, root, d, c, file, applyMs: [], tp: [], cpu: [] }
  await dstack(side, ['apply', '-f', file, '-y']) // the first job pays for warming the daemon up
  return side
}

async function dstack (side: Side, argv: string[]): Promise<number> {
  const r = await timed(join(side.root, 'tui', 'bin.js'), argv, side.d.env)
  if (r.code !== 0) throw new Error(`dstack ${argv.join(' ')} exited ${r.code}:\n${r.out}`)
  return r.ms
}

/**
 * The CPU (ms) of the side's resident client (tui/resident.cjs, which runs `apply -d -y` in its
 * process), 0 where none runs: it is no child of the bench, so the clients' CPU adds it.
 */
async function residentCpu (side: Side): Promise<{ pid: number, ms: number } | null> {
  try {
    const pid = Number((await readFile(join(side.d.home, '.dstack', 'resident', 'pid'), 'utf8')).split(' ')[0])
    return { pid, ms: (await cpuOf(pid)).own }
  } catch {
    return null // none (yet), or another checkout's client that has none
  }
}

/** 200 × `dstack apply -d -y`, one after another, then until every run is done: jobs/s. */
async function dstackThroughput (side: Side, round: number): Promise<number> {
  const prefix = `tp${round}-`
  const [bench0, daemon0, live0, resident0] = [await cpuOf('self'), await cpuOf(side.d.process.pid!), await liveChildrenCpu(side.d.process.pid!), await residentCpu(side)]
  const t0 = performance.now()
  for (let i = 0; i < JOBS; i++) await dstack(side, ['apply', '-f', side.file, '-d', '-y', '-n', `${prefix}${i}`])
  const [bench1, resident1] = [await cpuOf('self'), await residentCpu(side)]
  const resident = resident1 === null ? 0 : resident1.ms - (resident0?.pid === resident1.pid ? resident0.ms : 0)
  for (;;) { // as slurm-bench.sh polls squeue: every 100 ms
    const { runs } = await side.c.call('runs.list', { all: true })
    const mine = runs.filter(r => r.name.startsWith(prefix))
    if (mine.length === JOBS && mine.every(r => FINAL.includes(r.status))) {
      const failed = mine.filter(r => r.status !== 'done')
      if (failed.length > 0) throw new Error(`${failed.length} runs did not end done, e.g. ${failed[0]!.name}: ${failed[0]!.status_text}`)
      break
    }
    await sleep(100)
  }
  const jobsPerSecond = JOBS / ((performance.now() - t0) / 1000)
  await sleep(1000) // the last runners reaped
  const [daemon1, live1] = [await cpuOf(side.d.process.pid!), await liveChildrenCpu(side.d.process.pid!)]
  const runners = childrenDelta(daemon0.children, daemon1.children, live0, live1)
  side.cpu.push({ client: (bench1.children - bench0.children + resident) / JOBS, daemon: (daemon1.own - daemon0.own) / JOBS, runners: runners / JOBS })
  return jobsPerSecond
}

interface SlurmRound { srun_latency_s: number, throughput_oversub_jobs_per_s: number }

function sh (script: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null, out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(SLURM_DIR, script), ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', b => { out += b })
    child.stderr.on('data', b => { process.stderr.write(b) })
    child.on('error', reject)
    child.on('close', code => resolve({ code, out }))
  })
}

async function slurmRound (run: string, env: NodeJS.ProcessEnv): Promise<SlurmRound> {
  // One throughput rep of the "over" mode; the latency sections pared down to what is compared.
  const r = await sh('slurm-bench.sh', [run], { ...env, TP_MODES: 'over', TP_REPS: '1', NJOBS: String(JOBS), REPS: String(Math.min(APPLIES, 5)), WAIT_REPS: '1', IDLE_REPS: '1', GAP: '0', CLI_REPS: '1' })
  if (r.code !== 0) throw new Error(`slurm-bench.sh exited ${r.code}`)
  const summary = JSON.parse(r.out.slice(r.out.indexOf('{')))
  return { srun_latency_s: summary.srun_latency_s, throughput_oversub_jobs_per_s: summary[`throughput_${JOBS}_oversub_jobs_per_s`] }
}

const slurmWanted = !args.includes('--no-slurm')
let slurmRun: string | null = null
const slurmEnv: NodeJS.ProcessEnv = {
  ...process.env,
  SLURM_BENCH_SCHED_PARAMS: 'batch_sched_delay=0',
  SLURM_BENCH_CTLD_PORT: process.env.SLURM_BENCH_CTLD_PORT ?? '16817',
  SLURM_BENCH_SLURMD_PORT: process.env.SLURM_BENCH_SLURMD_PORT ?? '16818'
}
let slurmSkipped = slurmWanted ? '' : '--no-slurm'
if (slurmWanted) {
  if (process.getuid?.() !== 0) slurmSkipped = 'Slurm needs root'
  else if (!existsSync(join(SLURM_DIR, 'slurm-up.sh'))) slurmSkipped = `no ${join(SLURM_DIR, 'slurm-up.sh')}`
  else {
    slurmRun = await mkdtemp(join(tmpdir(), 'slurm-bench-'))
    const up = await sh('slurm-up.sh', [slurmRun], slurmEnv)
    if (up.code !== 0) slurmSkipped = `slurm-up.sh exited ${up.code}`
  }
}

const sides: Side[] = []
const lines: string[] = []
try {
  sides.push(await startSide('dstack', ROOT))
  if (BEFORE) sides.push(await startSide(`dstack (${BEFORE})`, BEFORE))
  const slurm: SlurmRound[] = []
  const nodeMs: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    if (slurmRun && !slurmSkipped) slurm.push(await slurmRound(slurmRun, slurmEnv))
    for (let i = 0; i < APPLIES; i++) {
      for (const side of sides) side.applyMs.push(await dstack(side, ['apply', '-f', side.file, '-y']))
      nodeMs.push((await timed(process.execPath, ['-e', '0'], sides[0]!.d.env)).ms)
    }
    // Alternate which side goes first from round to round.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) side.tp.push(await dstackThroughput(side, round))
    process.stderr.write(`[bench] round ${round + 1}/${ROUNDS}: ${sides.map(s => `${s.label} ${s.tp.at(-1)!.toFixed(1)} jobs/s`).join(', ')}${slurm.length > round ? `, Slurm ${slurm.at(-1)!.throughput_oversub_jobs_per_s.toFixed(1)} jobs/s` : ''}\n`)
  }
  const f0 = (x: number) => x.toFixed(0)
  for (const side of sides) {
    lines.push(`${side.label}: attached \`dstack apply -y\` of a one-line task, CLI start to exit, ${side.applyMs.length} runs: p50 ${f0(median(side.applyMs))} ms, p95 ${f0(pct(side.applyMs, 0.95))} ms`)
  }
  if (slurm.length > 0) lines.push(`\`srun -n1 true\` (slurm-bench.sh), median of ${slurm.length} rounds: ${f0(median(slurm.map(s => s.srun_latency_s * 1000)))} ms`)
  lines.push(`\`node -e 0\` with this environment${process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS set)' : ''}: p50 ${f0(median(nodeMs))} ms`)
  for (const side of sides) {
    lines.push(`${side.label}: ${JOBS} tasks, one \`dstack apply -d -y\` each, then all done: ${median(side.tp).toFixed(1)} jobs/s (${side.tp.map(x => x.toFixed(1)).join(', ')})`)
    const cpu = (k: keyof Cpu) => f0(median(side.cpu.map(x => x[k])))
    lines.push(`${side.label}: CPU per job of those: client ${cpu('client')} ms, daemon ${cpu('daemon')} ms, job runner or supervisor with the command ${cpu('runners')} ms`)
  }
  if (slurm.length > 0) {
    const s = slurm.map(x => x.throughput_oversub_jobs_per_s)
    lines.push(`Slurm: ${JOBS} × \`sbatch\` (partition over, batch_sched_delay=0), then all done: ${median(s).toFixed(1)} jobs/s (${s.map(x => x.toFixed(1)).join(', ')})`)
    for (const side of sides) lines.push(`${side.label} / Slurm: ${(median(side.tp) / median(s)).toFixed(2)}×`)
  } else {
    lines.push(`Slurm: not measured (${slurmSkipped})`)
  }
  lines.push(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}, load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
  console.log(lines.join('\n'))
} finally {
  for (const side of sides) {
    await side.c.close().catch(() => {})
    await side.d.cleanup()
  }
  if (slurmRun) {
    await sh('slurm-down.sh', [slurmRun], slurmEnv)
    await rm(slurmRun, { recursive: true, force: true })
  }
}
