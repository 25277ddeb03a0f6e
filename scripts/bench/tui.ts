// The full-screen app's speed: frame times of the whole app (frame + screen) for a 5,000-run list
// and a 100,000-line log, each a key (or new data) to the frame written, p50/p99 (target < 16 ms);
// then the CPU the open app uses while idle over 10 s, as a real process in tmux against a real
// dstackd (target < 2%).
//   node --import tsx scripts/bench/tui.ts [--frames N] [--no-idle]
import { EventEmitter } from 'node:events'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pct } from './timed.ts'

delete process.env.CI // ink draws only the last frame in CI
const { render } = await import('ink')
const { createElement: h } = await import('react')
const { App } = await import('../../tui/app/app.tsx')
const { screens } = await import('../../tui/app/screens/index.ts')
const { fakeClient, job, run } = await import('../../test/tui/app/fake.ts')

const args = process.argv.slice(2)
const FRAMES = Number(args[args.indexOf('--frames') + 1] || 200) || 200
const WIDTH = 160
const HEIGHT = 50

class Out extends EventEmitter {
  isTTY = true
  columns = WIDTH
  rows = HEIGHT
  waiting: (() => void) | null = null
  write (_: string): boolean { const w = this.waiting; this.waiting = null; w?.(); return true }
  /** Resolves at the next write: a frame. */
  next (): Promise<void> { return new Promise(resolve => { this.waiting = resolve }) }
}
class In extends EventEmitter {
  isTTY = true
  data: string | null = null
  setEncoding (): void {}
  setRawMode (): void {}
  ref (): void {}
  unref (): void {}
  resume (): void {}
  pause (): void {}
  read (): string | null { const d = this.data; this.data = null; return d }
  press (k: string): void { this.data = k; this.emit('readable') }
}

const INFO = { version: 'bench', node: 'a', project: 'main', user: 'admin', role: 'leader', index: 1, cluster: { role: 'leader', term: 1, leader: 'a', applied: 1, commit: 1, voters: [], learners: [], peers: [], addresses: [] } }

async function mount (answers: Record<string, unknown>, start: { screen: string, arg?: string }) {
  const fake = fakeClient({ 'server.info': INFO, ...answers })
  const out = new Out()
  const input = new In()
  const ink = render(h(App, { client: fake.client, screens, width: WIDTH, height: HEIGHT - 1, start, suspend: async () => 0, quit: () => {} }), {
    stdout: out as unknown as NodeJS.WriteStream, stdin: input as unknown as NodeJS.ReadStream, exitOnCtrlC: false, patchConsole: false, maxFps: 10_000
  })
  await new Promise(resolve => setTimeout(resolve, 100))
  return { fake, out, input, ink }
}

/** The time from `act` to the frame it causes, `n` times. */
async function frames (out: Out, n: number, act: (i: number) => void): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const frame = out.next()
    const t0 = performance.now()
    act(i)
    await Promise.race([frame, new Promise(resolve => setTimeout(resolve, 1000))])
    times.push(performance.now() - t0)
  }
  return times
}

const report = (what: string, t: number[]) => console.log(`${what.padEnd(52)} p50 ${pct(t, 0.5).toFixed(2)} ms  p99 ${pct(t, 0.99).toFixed(2)} ms  max ${Math.max(...t).toFixed(2)} ms  (${t.length} frames)`)

// 5,000 runs, every tenth with two jobs.
const runs = Array.from({ length: 5000 }, (_, i) => run(`run-${i}`, { price: i % 7 }, i % 10 === 0 ? [job({ hostname: `h${i}` }), job({ id: `j${i}b`, job_num: 1, hostname: `h${i + 1}` })] : [job({ hostname: `h${i}` })]))
{
  const { fake, out, input, ink } = await mount({ 'runs.list': { project: 'main', runs } }, { screen: 'runs' })
  const first = out.next()
  const t0 = performance.now()
  fake.stream('runs.watch')!.push({ runs, index: 1 })
  await first
  await new Promise(resolve => setTimeout(resolve, 200))
  console.log(`Runs, 5,000 runs: first frame after the data ${(performance.now() - t0).toFixed(1)} ms (includes a runs.list round trip to the fake)`)
  report('Runs, 5,000 runs: j (selection moves)', await frames(out, FRAMES, () => input.press('j')))
  report('Runs, 5,000 runs: pgdn', await frames(out, Math.min(FRAMES, 90), () => input.press('\x1b[6~')))
  report('Runs, 5,000 runs: N (sort by name, both ways)', await frames(out, 20, () => input.press('N')))
  ink.unmount()
}
{
  const { fake, out, input, ink } = await mount({ 'jobs.get': [job()] }, { screen: 'logs', arg: 'train' })
  const logs = fake.stream('logs')!
  const text = Array.from({ length: 100_000 }, (_, i) => `${new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)).toISOString()} step ${i} loss ${(1 / (i + 1)).toFixed(6)} lr 0.0001 throughput 1234.5 samples/s`).join('\n') + '\n'
  const first = out.next()
  const t0 = performance.now()
  logs.push({ submission: 0, at: Date.now(), data: Buffer.from(text).toString('base64') })
  await first
  await new Promise(resolve => setTimeout(resolve, 200))
  console.log(`Logs, 100,000 lines: first frame after the data ${(performance.now() - t0).toFixed(1)} ms (decoding and splitting them)`)
  report('Logs, 100,000 lines: a new line while following', await frames(out, FRAMES, i => logs.push({ submission: 0, at: Date.now(), data: Buffer.from(`new line ${i}\n`).toString('base64') })))
  report('Logs, 100,000 lines: k (scroll up)', await frames(out, FRAMES, () => input.press('k')))
  report('Logs, 100,000 lines: pgup', await frames(out, FRAMES, () => input.press('\x1b[5~')))
  report('Logs, 100,000 lines: w (wrap on/off)', await frames(out, 20, () => input.press('w')))
  input.press('/'); input.press('step 9'); input.press('\r')
  await new Promise(resolve => setTimeout(resolve, 300))
  report('Logs, 100,000 lines filtered (/step 9: 11,111 match): k', await frames(out, 50, () => input.press('k')))
  ink.unmount()
}

if (!args.includes('--no-idle')) await idleCpu()
process.exit(0)

/** The open app, idle on Runs with a few runs, as a process: its CPU time over 10 s. */
async function idleCpu (): Promise<void> {
  if (spawnSync('tmux', ['-V']).status !== 0) { console.log('idle CPU: skipped (no tmux)'); return }
  const { startDaemon, ROOT, dstack, writeConfig } = await import('../../test/e2e/harness.ts')
  const d = await startDaemon()
  const SOCK = `dstack-tui-bench-${process.pid}`
  const tmux = (...a: string[]) => spawnSync('tmux', ['-L', SOCK, ...a], { encoding: 'utf8' })
  try {
    const file = await writeConfig(d.home, 'idle.dstack.yml', 'type: task\ncommands: ["sleep 60"]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n')
    for (let i = 0; i < 3; i++) await dstack(d, ['apply', '-f', file, '-y', '-d'])
    const script = join(d.home, 'app.sh')
    writeFileSync(script, `export HOME='${d.home}'\nunset CI\nexec '${process.execPath}' '${join(ROOT, 'tui', 'bin.js')}'\n`)
    tmux('new-session', '-d', '-s', 'app', '-x', '150', '-y', '40', `sh '${script}'`)
    const deadline = Date.now() + 60_000
    while (!tmux('capture-pane', '-p', '-t', 'app').stdout.includes('RESOURCES') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    await new Promise(resolve => setTimeout(resolve, 2000))
    const pid = tmux('display', '-p', '-t', 'app', '#{pane_pid}').stdout.trim()
    const ticks = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]) }
    const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
    const t0 = ticks()
    const w0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, 10_000))
    const cpu = (ticks() - t0) / hz
    const wall = (performance.now() - w0) / 1000
    console.log(`idle app on Runs (3 running tasks), 10 s: CPU ${(cpu * 1000).toFixed(0)} ms = ${(100 * cpu / wall).toFixed(2)}% of one core`)
  } finally {
    tmux('kill-server')
    await d.cleanup()
  }
}
