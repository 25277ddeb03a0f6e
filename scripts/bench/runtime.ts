// Benchmark: the process runtime running trivial jobs one after another (start, then wait):
// what every job pays on the host besides the command itself. Prints the start latency
// (median, min, max) and the CPU per job: the daemon's side (this process) and the side that
// runs the jobs (per-job runners the daemon reaps, or the supervisor: its own CPU and that of
// the commands it reaps), read from /proc, which load disturbs less than wall time.
// `--before DIR` measures another checkout's runtime (with node_modules) in the same run, the
// two alternating round by round.
//   node --import tsx scripts/bench/runtime.ts [--jobs N (40)] [--rounds N (3)] [--before DIR]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import type { Runtime } from '../../drivers/runtime/index.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const JOBS = Number(flag('--jobs') ?? 40)
const ROUNDS = Number(flag('--rounds') ?? 3)
const BEFORE = flag('--before')
const ROOT = resolve(import.meta.dirname, '..', '..')

/** utime+stime and cutime+cstime of a process (ms), or null when it is gone. */
function cpuOf (pid: number | 'self'): { own: number, children: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number)
    return { own: (f[11]! + f[12]!) * 10, children: (f[13]! + f[14]!) * 10 } // USER_HZ 100
  } catch { return null }
}

/** The CPU (ms) of this process's live children and what they reaped. */
function childrenCpu (): Map<number, number> {
  const out = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'latin1')
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue
      const c = cpuOf(Number(name))
      if (c) out.set(Number(name), c.own + c.children)
    } catch {}
  }
  return out
}

interface Side { label: string, rt: Runtime, root: string, startMs: number[], daemonCpu: number[], jobsCpu: number[] }

async function side (label: string, checkout: string): Promise<Side> {
  const mod = await import(pathToFileURL(join(checkout, 'drivers', 'runtime', 'index.ts')).href) as typeof import('../../drivers/runtime/index.ts')
  const root = mkdtempSync(join(tmpdir(), 'dstackd-bench-runtime-'))
  return { label, rt: mod.processRuntime({ rootDir: root }), root, startMs: [], daemonCpu: [], jobsCpu: [] }
}

async function round (s: Side, r: number): Promise<void> {
  const run = async (id: string) => {
    const t0 = performance.now()
    await s.rt.start({ id, dir: join(s.root, id), command: ['/bin/bash', '-c', 'echo hi'], env: { PATH: '/usr/bin:/bin' }, workingDir: join(s.root, 'work') })
    const ms = performance.now() - t0
    await s.rt.wait(id)
    return ms
  }
  await run(`warm-${r}`) // a supervisor started, a spare runner waiting: as in a daemon that ran a job before
  await new Promise(resolve => setTimeout(resolve, 300))
  const self0 = cpuOf('self')!
  const kids0 = childrenCpu()
  for (let i = 0; i < JOBS; i++) s.startMs.push(await run(`r${r}-${i}`))
  await new Promise(resolve => setTimeout(resolve, 1000)) // the last runners reaped
  const self1 = cpuOf('self')!
  const kids1 = childrenCpu()
  let jobs = self1.children - self0.children // runners reaped by this process
  for (const [pid, cpu] of kids1) jobs += cpu - (kids0.get(pid) ?? 0) // a live supervisor (or spare)
  for (const [pid, cpu] of kids0) if (!kids1.has(pid)) jobs -= cpu // reaped: counted above in full
  s.daemonCpu.push((self1.own - self0.own) / JOBS)
  s.jobsCpu.push(jobs / JOBS)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const sides = [await side('this checkout', ROOT)]
if (BEFORE) sides.push(await side(BEFORE, resolve(BEFORE)))
try {
  for (let r = 0; r < ROUNDS; r++) for (const s of r % 2 === 0 ? sides : [...sides].reverse()) await round(s, r)
} finally {
  for (const s of sides) rmSync(s.root, { recursive: true, force: true })
}
for (const s of sides) {
  const sorted = [...s.startMs].sort((a, b) => a - b)
  console.log(`${s.label}: ${ROUNDS} × ${JOBS} jobs (bash -c 'echo hi'), one after another: start median ${median(sorted).toFixed(1)} ms (min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)}); CPU per job: daemon side ${median(s.daemonCpu).toFixed(1)} ms, runner or supervisor with the command ${median(s.jobsCpu).toFixed(1)} ms (rounds: ${s.jobsCpu.map(x => x.toFixed(1)).join(', ')})`)
}
process.exit(0) // a supervisor link or a spare runner of the other checkout holds nothing worth waiting for
