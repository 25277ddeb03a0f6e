// Text captures of the app's screens (docs/tui/*.txt), taken from a real terminal (tmux
// `capture-pane -p`) against a real dstackd, so they can be made again after a change:
//
//   npx tsx scripts/tui-captures.ts [OUT_DIR]      (default docs/tui)
//
// It starts a daemon of its own (a host with two declared L4 GPUs), opens the app in a tmux
// server of its own, applies a task from the Apply screen (finder, plan, y), watches it on
// Logs and Runs, and captures each screen on the way. Nothing outside its temp dirs is touched.
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ROOT, startDaemon, writeConfig } from '../test/e2e/harness.ts'
import { waitFor } from '../test/poll.ts'

const out = resolve(process.argv[2] ?? join(ROOT, 'docs', 'tui'))
const SOCKET = `dstack-tui-captures-${process.pid}`
const SESSION = 'app'
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' })
const screen = () => tmux('capture-pane', '-p', '-t', SESSION).stdout
const keys = (...k: string[]) => { tmux('send-keys', '-t', SESSION, ...k) }

async function shows (what: string | RegExp): Promise<string> {
  return await waitFor(() => {
    const s = screen()
    return (typeof what === 'string' ? s.includes(what) : what.test(s)) ? s : undefined
  }, { what: `the app to show ${String(what)}`, timeout: 60_000, interval: 200 }).catch(err => {
    throw new Error(`${(err as Error).message}\nscreen:\n${screen()}`)
  })
}

async function capture (name: string, what: string | RegExp): Promise<void> {
  await shows(what)
  await new Promise(r => setTimeout(r, 600)) // let a throttled render land
  await writeFile(join(out, `${name}.txt`), screen().replace(/[ \t]+$/gm, '').trimEnd() + '\n')
  console.log(`${name}.txt`)
}

async function jump (to: string): Promise<void> {
  keys(':')
  keys('-l', to)
  keys('Enter')
}

const work = await mkdtemp(join(tmpdir(), 'dstack-tui-captures-'))
const gpu = (index: number) => ({ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index })
const inventory = await writeConfig(work, 'inventory.json', JSON.stringify({ gpus: [gpu(0), gpu(1)] }))
const d = await startDaemon({ name: 'gpu-01', args: ['--inventory', inventory] })
try {
  await mkdir(out, { recursive: true })
  await mkdir(join(work, 'hello'))
  await writeFile(join(work, 'hello', '.dstack.yml'), 'type: task\nname: hello\ncommands:\n  - echo hello from the Apply screen\n  - sleep 20\n  - echo done\nresources:\n  cpu: 1..\n  memory: 0..\n  disk: 0..\n  gpu: L4:1\n')
  await writeFile(join(work, 'broken.dstack.yml'), 'type: task\nname: broken\ncommands:\n  - python train.py\nresources:\n  gpu: A100:2:3\n')
  const script = join(work, 'app.sh')
  const env = Object.entries(d.env).filter(([k]) => /^(HOME|PATH|NO_COLOR|DSTACK_|DSTACKD_|NODE_)/.test(k) && !/^DSTACK_(URL|TOKEN|PROJECT)$/.test(k))
  await writeFile(script, [...env.map(([k, v]) => `export ${k}='${String(v).replaceAll("'", "'\\''")}'`), 'unset CI', `export TSX_TSCONFIG_PATH='${join(ROOT, 'tsconfig.json')}'`, `cd '${work}'`, `'${process.execPath}' '${join(ROOT, 'tui', 'bin.js')}'`, 'sleep 600'].join('\n') + '\n')
  const opened = tmux('new-session', '-d', '-s', SESSION, '-x', '132', '-y', '32', `sh '${script}'`)
  if (opened.status !== 0) throw new Error(`tmux: ${opened.stderr}`)
  await shows('project main')

  await jump('apply')
  await capture('apply-finder', 'hello/.dstack.yml')
  keys('Enter') // broken.dstack.yml comes first (nearest)
  await capture('apply-mistakes', 'mistake')
  keys('b')
  await shows('Configurations under')
  keys('j')
  keys('Enter')
  await capture('apply-plan', 'Submit the run hello?')
  keys('y')
  await capture('logs', 'hello from the Apply screen')

  await jump('runs')
  await capture('runs', /hello .*running/)
  await jump('fleets')
  await shows('instance=0')
  keys('j')
  await capture('fleets', /GPU1\s+L4/)
  await jump('offers')
  await capture('offers', /INSTANCE TYPE/)
  await jump('events')
  await capture('events', /run\.|job\./)
  await jump('projects')
  await capture('projects', /main\s+admin/)
  keys('q')
} finally {
  tmux('kill-server')
  spawnSync(process.execPath, [join(ROOT, 'tui', 'bin.js'), 'stop', '-x', '-y', 'hello'], { env: d.env, encoding: 'utf8' })
  await d.cleanup()
  await rm(work, { recursive: true, force: true })
}
