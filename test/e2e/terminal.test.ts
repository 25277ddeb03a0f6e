// The attached `dstack apply` in a real terminal (node-pty): Ctrl+C asks whether to stop the
// run before detaching; answering y stops it; and 100 concurrent submissions all land.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pty from 'node-pty'
import { connectApi } from '../../daemon/api/client.ts'
import { parseConfiguration } from '../../daemon/config/index.ts'
import { psJson, ROOT, runNamed, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'

let d: Daemon

test.before(async () => { d = await startDaemon() })
test.after(async () => { await d.cleanup() })

test('Ctrl+C in an attached apply asks, and y stops the run', async () => {
  const file = await writeConfig(d.home, 'long.dstack.yml', 'type: task\nname: interactive\ncommands: ["echo ready", "sleep 600"]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n')
  const term = pty.spawn(process.execPath, [join(ROOT, 'tui', 'bin.js'), 'apply', '-f', file, '-y'], {
    cols: 120, rows: 40, cwd: ROOT, env: d.env as Record<string, string>
  })
  let screen = ''
  term.onData(data => { screen += data })
  const exited = new Promise<number>(resolve => term.onExit(e => resolve(e.exitCode)))
  try {
    await waitFor(() => screen.includes('ready'), { what: 'the job output in the terminal' })
    term.write('\x03')
    await waitFor(() => screen.includes('Stop the run before detaching?'), { what: 'the question' })
    term.write('y\r')
    const code = await exited
    assert.is(code, 1, 'a stopped run is not done')
    assert.match(screen, /Run interactive terminated: stopped/)
    const run = await runNamed(d, 'interactive')
    assert.is(run!.status, 'terminated')
    assert.is(run!.status_text, 'stopped')
  } finally {
    try { term.kill() } catch { /* exited */ }
  }
})

test('100 concurrent submissions: every run lands with its own name and finishes', async () => {
  const token = (await readFile(join(d.dataDir, 'token'), 'utf8')).trim()
  const client = await connectApi({ socketPath: join(d.dataDir, 'api.sock'), token })
  try {
    const configuration = parseConfiguration('type: task\ncommands: [echo hi]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n')
    const results = await Promise.all(Array.from({ length: 100 }, () => client.call('runs.submit', { configuration, env: {} })))
    const names = new Set(results.map(r => r.run.name))
    assert.is(names.size, 100, 'generated names are unique')
    await waitFor(async () => (await psJson(d)).runs.filter(r => names.has(r.name) && r.status === 'done').length === 100, { what: '100 runs to finish', timeout: 300_000 })
  } finally {
    await client.close()
  }
})

test.run()
