// The app's Apply and Fleets screens in a real terminal (tmux, its own server) against a real
// dstackd: `:apply`, a file with a mistake shown at its line, a task picked in the finder, its
// plan confirmed, its output on Logs, it running then finished on Runs, the GPU it holds on
// Fleets (fleets.watch), and `q` back to the shell.
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'
import { suiteNeeding } from '../skip.ts'

const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0
const test = suiteNeeding(import.meta.url, 'tmux', hasTmux ? null : 'tmux is not installed')

const SOCKET = `dstack-tui-apply-e2e-${process.pid}`
const SESSION = 'app'
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' })
const screen = () => tmux('capture-pane', '-p', '-t', SESSION).stdout
const keys = (...k: string[]) => { tmux('send-keys', '-t', SESSION, ...k) }
const jump = (to: string) => { keys(':'); keys('-l', to); keys('Enter') }

async function shows (what: string | RegExp, label = String(what)): Promise<string> {
  return await waitFor(() => {
    const s = screen()
    return (typeof what === 'string' ? s.includes(what) : what.test(s)) ? s : undefined
  }, { what: `the app to show ${label}`, timeout: 90_000, interval: 200 }).catch(err => {
    throw new Error(`${(err as Error).message}\nscreen:\n${screen()}`)
  })
}

let d: Daemon
let dir = ''

test.before(async () => {
  // A host with two L4s (declared: no GPU here), so the task has a GPU to hold.
  dir = await mkdtemp(join(tmpdir(), 'dstack-tui-apply-'))
  const gpu = (index: number) => ({ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index })
  d = await startDaemon({ name: 'gpu-01', args: ['--inventory', await writeConfig(dir, 'inventory.json', JSON.stringify({ gpus: [gpu(0), gpu(1)] }))] })
})
test.after(async () => {
  tmux('kill-server')
  await d?.cleanup()
  await rm(dir, { recursive: true, force: true })
})

test('apply a task from the Apply screen, watch it on Logs and Runs, see its GPU on Fleets', async () => {
  const work = join(d.home, 'work')
  await mkdir(join(work, 'hello'), { recursive: true })
  await writeFile(join(work, 'hello', '.dstack.yml'), 'type: task\nname: tui-apply\ncommands: ["echo applied-from-the-tui", "sleep 4", "echo tui-apply-done"]\nresources: {cpu: 0.., memory: 0.., disk: 0.., gpu: L4:1}\n')
  await writeFile(join(work, 'broken.dstack.yml'), 'type: task\ncommands: ["true"]\nresources:\n  gpu: A100:2:3\n')
  const script = join(d.home, 'app.sh')
  const env = Object.entries(d.env).filter(([k]) => /^(HOME|PATH|NO_COLOR|DSTACK_|DSTACKD_|NODE_)/.test(k) && !/^DSTACK_(URL|TOKEN|PROJECT)$/.test(k))
  await writeFile(script, [
    ...env.map(([k, v]) => `export ${k}='${String(v).replaceAll("'", "'\\''")}'`),
    'unset CI',
    // From the sources (tsx), JSX needs the project's tsconfig wherever the app is started.
    `export TSX_TSCONFIG_PATH='${join(ROOT, 'tsconfig.json')}'`,
    `cd '${work}'`,
    `'${process.execPath}' '${join(ROOT, 'tui', 'bin.js')}'`,
    'echo "APP EXITED $?"',
    'sleep 600'
  ].join('\n') + '\n')
  const opened = tmux('new-session', '-d', '-s', SESSION, '-x', '140', '-y', '30', `sh '${script}'`)
  assert.is(opened.status, 0, opened.stderr)
  await shows('project main', 'its header')
  jump('apply')
  await shows('hello/.dstack.yml', 'the finder')
  keys('Enter')
  const mistakes = await shows('1 mistake', 'the broken file\'s mistake')
  assert.match(mistakes, /4 │ {3}gpu: A100:2:3/)
  assert.match(mistakes, /╰ resources\.gpu: /)
  keys('b')
  await shows('Configurations under', 'the finder again')
  keys('j')
  keys('Enter')
  const plan = await shows('Submit the run tui-apply?', 'the plan')
  assert.match(plan, /Resources\s+cpu=0\.\. mem=0GB\.\. disk=0GB\.\. gpu=L4:1/)
  assert.match(plan, /local \(local\)\s+.*gpu=L4:24GB:2/)
  keys('y')
  const logs = await shows('applied-from-the-tui', 'its output on Logs')
  assert.match(logs, /Logs tui-apply/)
  jump('fleets')
  await shows('instance=0', 'the host')
  keys('j')
  const fleets = await shows(/GPU\d\s+L4 24GB\s+\[held\s*\]\s+tui-apply\/tui-apply-0-0/, 'the GPU the task holds')
  assert.match(fleets, /instance=0 .*leader/)
  jump('runs')
  await shows(/tui-apply .*exited \(0\)/, 'the task finished on Runs')
  keys('q')
  await shows('APP EXITED 0', 'the app to exit')
})

test.run()
