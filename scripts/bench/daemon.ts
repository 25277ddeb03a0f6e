// Benchmarks of dstackd on one host, against a real daemon in a temporary HOME:
//   apply→running  from the CLI's start to the job running (p50, p95)
//   ps             `dstack ps` wall time with 1,000 runs in the history
//   idle RSS       the daemon's resident memory when idle
//   throughput     200 trivial tasks submitted at once, until all are done (jobs/s)
// Usage: node --import tsx scripts/bench/daemon.ts [--quick]
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { ApiClient } from '../../daemon/api/client.ts'
import { parseConfiguration } from '../../daemon/config/index.ts'
import type { RunView } from '../../daemon/api/views.ts'
import { apiClient, ROOT, sleep, startDaemon, type Daemon } from '../../test/e2e/harness.ts'
import { waitFor } from '../../test/poll.ts'

const quick = process.argv.includes('--quick')
const TRIVIAL = 'type: task\ncommands: [echo hi]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n'

function pct (xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

function cli (d: Daemon, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // As an installed `dstack` runs: the bin executed as a program (see tui/bin.js).
    const child = spawn(join(ROOT, 'tui', 'bin.js'), args, { env: d.env, stdio: 'ignore' })
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolve(0) : reject(new Error(`dstack ${args.join(' ')} exited ${code}`)))
  })
}

async function applyToRunning (d: Daemon, c: ApiClient, n: number): Promise<number[]> {
  const file = join(d.home, 'trivial.dstack.yml')
  await writeFile(file, TRIVIAL.replace('[echo hi]', '[sleep 1]'))
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = Date.now()
    await cli(d, ['apply', '-f', file, '-y', '-d', '-n', `bench-apply-${i}`])
    const run = await waitFor(async () => {
      const v = await c.call('runs.get', { name: `bench-apply-${i}` })
      return v.jobs[0]?.started_at ? v : null
    }, { what: 'the run to start' })
    times.push(run.jobs[0]!.started_at! - t0)
  }
  return times
}

async function submitMany (c: ApiClient, n: number, prefix: string): Promise<number> {
  const configuration = parseConfiguration(TRIVIAL)
  const t0 = Date.now()
  await Promise.all(Array.from({ length: n }, (_, i) => c.call('runs.submit', { configuration: { ...configuration, name: `${prefix}-${i}` }, env: {} })))
  await waitFor(async () => {
    const { runs } = await c.call('runs.list', { all: true })
    return runs.filter(r => r.name.startsWith(prefix) && r.status === 'done').length === n
  }, { what: `${n} runs to finish`, timeout: 600_000 })
  return Date.now() - t0
}

async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
}

const d = await startDaemon()
try {
  const c = await apiClient(d)
  await sleep(2000)
  const idle = await rssMb(d.process.pid!)

  const applyTimes = await applyToRunning(d, c, quick ? 5 : 20)

  const burst = quick ? 50 : 200
  const burstMs = await submitMany(c, burst, 'bench-burst')

  // Fill the history to 1,000 runs, then time `dstack ps` as a user would.
  const { runs } = await c.call('runs.list', { all: true })
  if (runs.length < 1000) await submitMany(c, 1000 - runs.length, 'bench-fill')
  const psTimes: number[] = []
  for (let i = 0; i < (quick ? 5 : 15); i++) {
    const t0 = Date.now()
    await cli(d, ['ps'])
    psTimes.push(Date.now() - t0)
  }
  const idleAfter = await rssMb(d.process.pid!)
  await c.close()

  console.log(`apply→running (CLI start to job running), ${applyTimes.length} runs: p50 ${pct(applyTimes, 0.5)} ms, p95 ${pct(applyTimes, 0.95)} ms`)
  console.log(`dstack ps with 1,000 runs: p50 ${pct(psTimes, 0.5)} ms, p95 ${pct(psTimes, 0.95)} ms`)
  console.log(`daemon RSS: ${idle.toFixed(0)} MB idle at start, ${idleAfter.toFixed(0)} MB with 1,000 runs`)
  console.log(`${burst} trivial tasks at once: all done in ${(burstMs / 1000).toFixed(1)} s, ${(burst / (burstMs / 1000)).toFixed(1)} jobs/s`)
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}`)
} finally {
  await d.cleanup()
}
