// The full-screen app in a real terminal (tmux) against a real dstackd: it opens on Runs, shows
// a task finish, reads its logs, filters them, and on quit leaves the terminal as it found it
// (no alternate screen, the cursor shown, echo and canonical input on).
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { dstack, ROOT, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'
import { suiteNeeding } from '../skip.ts'

const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0
const test = suiteNeeding(import.meta.url, 'tmux', hasTmux ? null : 'tmux is not installed')

// A tmux server of its own: the test never touches anyone else's sessions.
const SOCKET = `dstack-tui-e2e-${process.pid}`
const SESSION = 'app'
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' })
const screen = () => tmux('capture-pane', '-p', '-t', SESSION).stdout
const keys = (...k: string[]) => { tmux('send-keys', '-t', SESSION, ...k) }
const paneState = () => tmux('display', '-p', '-t', SESSION, '#{alternate_on} #{cursor_flag}').stdout.trim()

async function shows (what: string | RegExp, label = String(what)): Promise<string> {
  return await waitFor(() => {
    const s = screen()
    return (typeof what === 'string' ? s.includes(what) : what.test(s)) ? s : undefined
  }, { what: `the app to show ${label}`, timeout: 90_000, interval: 200 }).catch(err => {
    throw new Error(`${(err as Error).message}\nscreen:\n${screen()}`)
  })
}

let d: Daemon

test.before(async () => { d = await startDaemon() })
test.after(async () => {
  tmux('kill-server')
  await d?.cleanup()
})

test('open the app, see a task finish on Runs, read and filter its logs, quit with the terminal restored', async () => {
  const file = await writeConfig(d.home, 'tui.dstack.yml', 'type: task\nname: tui-task\ncommands: ["echo tui-hello", "sleep 3", "echo tui-bye"]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n')
  // The pane runs a shell script: the app, then `stty -a` to show what it left behind.
  const script = join(d.home, 'app.sh')
  const env = Object.entries(d.env).filter(([k]) => /^(HOME|PATH|NO_COLOR|DSTACK_|DSTACKD_|NODE_)/.test(k) && !/^DSTACK_(URL|TOKEN|PROJECT)$/.test(k))
  await writeFile(script, [
    ...env.map(([k, v]) => `export ${k}='${String(v).replaceAll("'", "'\\''")}'`),
    'unset CI',
    `cd '${ROOT}'`,
    `'${process.execPath}' '${join(ROOT, 'tui', 'bin.js')}'`,
    'echo "APP EXITED $?"',
    'stty -a',
    'sleep 600'
  ].join('\n') + '\n')
  const opened = tmux('new-session', '-d', '-s', SESSION, '-x', '150', '-y', '30', `sh '${script}'`)
  assert.is(opened.status, 0, opened.stderr)
  await shows('project main', 'its header')
  await shows(/NAME\s+BACKEND\s+RESOURCES/, 'the runs table')
  const r = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await shows(/tui-task .*running|tui-task .*exited \(0\)/, 'the task running')
  await shows(/tui-task .*exited \(0\)/, 'the task finished')
  keys('l')
  const logs = await shows('tui-bye', 'its output')
  assert.match(logs, /Runs › Logs tui-task/)
  assert.match(logs, /tui-hello/)
  keys('/', 'b', 'y', 'e', 'Enter')
  const filtered = await shows('1 of 2 lines', 'the filtered logs')
  assert.not.match(filtered, /tui-hello/)
  keys('Escape')
  await shows('2 lines', 'the filter cleared')
  keys('Escape')
  await shows(/NAME\s+BACKEND\s+RESOURCES/, 'Runs again')
  keys('q')
  const after = await shows('APP EXITED 0', 'the app to exit')
  assert.is(paneState(), '0 1', 'no alternate screen left, the cursor shown')
  assert.match(after, /(^|\s)echo(\s|$)/m, 'echo on')
  assert.match(after, /(^|\s)icanon(\s|$)/m, 'canonical input on')
  assert.not.match(after, /\x1b\[\?1000h/)
})

test('SIGTERM to the open app: the terminal is restored', async () => {
  tmux('kill-session', '-t', SESSION)
  const opened = tmux('new-session', '-d', '-s', SESSION, '-x', '120', '-y', '30', `sh '${join(d.home, 'app.sh')}'`)
  assert.is(opened.status, 0, opened.stderr)
  await shows(/NAME\s+BACKEND\s+RESOURCES/, 'the runs table')
  assert.is(paneState(), '1 0', 'the app is on the alternate screen with the cursor hidden')
  const shell = tmux('display', '-p', '-t', SESSION, '#{pane_pid}').stdout.trim()
  const app = spawnSync('ps', ['--ppid', shell, '-o', 'pid='], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[0]
  assert.ok(app, 'the app process')
  process.kill(Number(app), 'SIGTERM')
  const after = await shows('APP EXITED 143', 'the app to exit on SIGTERM')
  assert.is(paneState(), '0 1', 'no alternate screen left, the cursor shown')
  assert.match(after, /(^|\s)echo(\s|$)/m, 'echo on')
})

test.run()
