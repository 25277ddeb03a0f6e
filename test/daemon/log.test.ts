// The daemon's one logger: JSON lines with a component, and a log file rotated by size.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLog, fileSink, type LogSink } from '../../daemon/log.ts'

function memory (): LogSink & { lines: () => Array<Record<string, unknown>> } {
  const out: string[] = []
  return { write: l => { out.push(l) }, close () {}, lines: () => out.map(l => { assert.ok(l.endsWith('\n'), 'one line per write'); return JSON.parse(l) }) }
}

const clock = () => new Date('2026-12-05T18:00:00.000Z')

test('a line: ts, level, component, msg, then the fields', () => {
  const sink = memory()
  const log = createLog({ component: 'dstackd', sink, clock })
  log.info('dstackd ready', { node: 'p1', cpus: 2 })
  assert.equal(sink.lines(), [{ ts: '2026-12-05T18:00:00.000Z', level: 'info', component: 'dstackd', msg: 'dstackd ready', node: 'p1', cpus: 2 }])
  assert.equal(Object.keys(sink.lines()[0]!).slice(0, 4), ['ts', 'level', 'component', 'msg'])
})

test('child: the same sink, another component; the callable form takes a level', () => {
  const sink = memory()
  const root = createLog({ component: 'dstackd', sink, clock })
  const agent = root.child('agent')
  agent('warn', 'could not record a job change yet', { attempts: 1 })
  agent.child('deeper').error('boom')
  assert.is(agent.component, 'agent')
  assert.equal(sink.lines().map(l => [l.level, l.component, l.msg]), [['warn', 'agent', 'could not record a job change yet'], ['error', 'deeper', 'boom']])
})

test('fields cannot replace ts, level, component or msg; errors log their message; cycles do not throw', () => {
  const sink = memory()
  const log = createLog({ component: 'api', sink, clock })
  log.warn('auth_failed', { level: 'info', msg: 'x', component: 'y', ts: 'z', error: new Error('bad token'), skipped: undefined })
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  log.error('cycle', { cyclic })
  const [a, b] = sink.lines()
  assert.equal(a, { ts: '2026-12-05T18:00:00.000Z', level: 'warn', component: 'api', msg: 'auth_failed', error: 'bad token' })
  assert.is(b!.msg, 'cycle')
  assert.type(b!.unloggable, 'string')
})

test('a sink that throws does not throw into the daemon', () => {
  const log = createLog({ component: 'x', sink: { write () { throw new Error('disk full') }, close () {} } })
  log.error('still fine')
})

test('fileSink: mode 0600, rotated by size, the newest rotated file is .1, only `keep` kept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstackd-log-'))
  try {
    const path = join(dir, 'dstackd.log')
    const sink = fileSink({ path, maxBytes: 1000, keep: 3 })
    const log = createLog({ component: 'test', sink, clock })
    for (let i = 0; i < 100; i++) log.info('line', { i, pad: 'x'.repeat(40) })
    sink.close()
    assert.equal((await readdir(dir)).sort(), ['dstackd.log', 'dstackd.log.1', 'dstackd.log.2', 'dstackd.log.3'])
    for (const f of await readdir(dir)) {
      const st = await stat(join(dir, f))
      assert.ok(st.size <= 1000, `${f} is ${st.size} bytes`)
    }
    assert.is((await stat(path)).mode & 0o777, 0o600)
    const numbers = async (f: string) => (await readFile(join(dir, f), 'utf8')).trim().split('\n').map(l => JSON.parse(l).i as number)
    const current = await numbers('dstackd.log')
    const previous = await numbers('dstackd.log.1')
    assert.is(current[current.length - 1], 99)
    assert.is(previous[previous.length - 1], current[0]! - 1, 'nothing lost between .1 and the current file')
    // A new sink on the same file appends (a restarted daemon) and counts what is there.
    const again = fileSink({ path, maxBytes: 1000, keep: 3 })
    again.write('{"i":100}\n')
    again.close()
    assert.is((await numbers('dstackd.log')).at(-1), 100)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
