// The Runs screen: `dstack ps -v`'s rows, live; keys, filter, sort, and its empty, loading and
// error states.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createElement as h } from 'react'
import { render, cleanup } from 'ink-testing-library'
import type { Route, ScreenProps } from '../../../tui/app/screen.ts'
import { runsScreen } from '../../../tui/app/screens/runs.tsx'
import { NO_FILTER, parseFilter } from '../../../tui/app/state/filter.ts'
import { fakeClient, frameWith, job, plain, run, tick, until, type Fake } from './fake.ts'

function mount (fake: Fake, over: Partial<ScreenProps> = {}) {
  const went: Route[] = []
  const flashes: string[] = []
  const suspended: string[][] = []
  const props: ScreenProps = {
    client: fake.client, width: 160, height: 12, filter: NO_FILTER, active: true, readonly: false,
    go: r => { went.push(r) }, flash: t => { flashes.push(t) }, suspend: async argv => { suspended.push(argv); return 0 },
    ...over
  }
  const r = render(h(runsScreen.Component, props))
  return { ...r, lastFrame: () => plain(r.lastFrame()), went, flashes, suspended, rerender: (p: Partial<ScreenProps>) => r.rerender(h(runsScreen.Component, { ...props, ...p })) }
}

const RUNS = [
  run('train', {}, [job({ replica_num: 0, job_num: 0, hostname: 'host-a' }), job({ id: 'j2', job_num: 1, hostname: 'host-b', status: 'submitted', status_text: 'submitted', waiting_reason: 'no host has 2 free A100' })]),
  run('serve', { status: 'done', status_text: 'exited (0)', price: 1.5 }, [job({ status: 'done', status_text: 'exited (0)', hostname: 'host-c' })]),
  run('broken', { status: 'failed', status_text: 'exited (3)', error: 'container exited with error' }, [job({ status: 'failed', status_text: 'exited (3)', exit_status: 3 })])
]

async function live (fake: Fake, runs = RUNS) {
  await tick()
  fake.stream('runs.watch')!.push({ runs, index: 1 })
}

test.after.each(() => cleanup())

test('loading, then ps -v rows: job rows under a multi-node run, status texts, the waiting reason', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS } })
  const r = mount(fake)
  assert.match(r.lastFrame()!, /loading runs/)
  await live(fake)
  const f = await frameWith(r.lastFrame, 'broken')
  assert.match(f, /NAME\s+BACKEND\s+RESOURCES\s+INSTANCE TYPE\s+PRICE\s+STATUS\s+SUBMITTED\s+ERROR/)
  assert.match(f, /train\s/)
  assert.match(f, /\n\s+job=0\s/)
  assert.match(f, /\n\s+job=1 .*submitted.*no host has 2 free A100/)
  assert.match(f, /serve .*\$1\.5 .*exited \(0\)/)
  assert.match(f, /broken .*exited \(3\).*container exited with error/)
  assert.equal(fake.calls.find(c => c[0] === 'runs.list')![1], { all: false, limit: 0 })
})

test('the filter keeps whole runs (a run with its job rows); inverted keeps the others', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS } })
  const r = mount(fake)
  await live(fake)
  await frameWith(r.lastFrame, 'broken')
  const f1 = parseFilter('host-b')
  if ('error' in f1) throw new Error(f1.error)
  r.rerender({ filter: f1.filter })
  let f = await frameWith(r.lastFrame, x => !x.includes('broken'))
  assert.match(f, /train/)
  assert.match(f, /job=0/, 'the run keeps all its job rows')
  assert.not.match(f, /serve/)
  const f2 = parseFilter('!train')
  if ('error' in f2) throw new Error(f2.error)
  r.rerender({ filter: f2.filter })
  f = await frameWith(r.lastFrame, x => x.includes('broken') && !x.includes('train'))
  assert.match(f, /serve/)
  const none = parseFilter('nothing-like-this')
  if ('error' in none) throw new Error(none.error)
  r.rerender({ filter: none.filter })
  await frameWith(r.lastFrame, 'no run matches the filter')
})

test('sort keys: N sorts by name, N again reverses; job rows stay under their run', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS } })
  const r = mount(fake)
  await live(fake)
  await frameWith(r.lastFrame, 'broken')
  const order = (f: string) => ['broken', 'serve', 'train'].sort((a, b) => f.indexOf(a + ' ') - f.indexOf(b + ' '))
  r.stdin.write('N')
  let f = await frameWith(r.lastFrame, 'NAME↑')
  assert.equal(order(f), ['broken', 'serve', 'train'])
  r.stdin.write('N')
  f = await frameWith(r.lastFrame, 'NAME↓')
  assert.equal(order(f), ['train', 'serve', 'broken'])
  assert.ok(f.indexOf('job=1') > f.indexOf('train') && f.indexOf('job=1') < f.indexOf('serve'))
})

test('keys: enter describes, l logs (a job row names its job), y the YAML, s stops, x a shell, a attach', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS }, 'runs.stop': { stopped: ['train'], abort: false } })
  const r = mount(fake)
  await live(fake)
  await frameWith(r.lastFrame, 'broken')
  r.stdin.write('\r')
  r.stdin.write('l')
  r.stdin.write('y')
  await tick(20)
  assert.equal(r.went, [{ screen: 'run', arg: 'train' }, { screen: 'logs', arg: 'train' }, { screen: 'yaml', arg: 'train' }])
  r.stdin.write('j')
  await tick(20)
  r.stdin.write('j')
  await tick(20)
  r.stdin.write('l')
  await tick(20)
  assert.equal(r.went.at(-1), { screen: 'logs', arg: 'train:0:1' })
  r.stdin.write('s')
  await until(() => fake.calls.some(c => c[0] === 'runs.stop'), 'runs.stop')
  assert.equal(fake.calls.find(c => c[0] === 'runs.stop')![1], { names: ['train'], abort: false })
  r.stdin.write('x')
  r.stdin.write('a')
  await tick(20)
  assert.equal(r.suspended, [['ssh', 'train'], ['dstack', 'attach', 'train']])
})

test('ctrl+k asks before aborting: n leaves the run alone, y aborts', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS }, 'runs.stop': { stopped: ['train'], abort: true } })
  const r = mount(fake)
  await live(fake)
  await frameWith(r.lastFrame, 'broken')
  r.stdin.write('\x0b')
  await frameWith(r.lastFrame, 'Abort train?')
  r.stdin.write('n')
  await frameWith(r.lastFrame, x => !x.includes('Abort train?'))
  assert.is(fake.calls.filter(c => c[0] === 'runs.stop').length, 0)
  r.stdin.write('\x0b')
  await frameWith(r.lastFrame, 'Abort train?')
  r.stdin.write('y')
  await until(() => fake.calls.some(c => c[0] === 'runs.stop'), 'runs.stop')
  assert.equal(fake.calls.find(c => c[0] === 'runs.stop')![1], { names: ['train'], abort: true })
})

test('read-only: stop, abort and shell are refused with a message, nothing is called', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS }, 'runs.stop': { stopped: [], abort: false } })
  const r = mount(fake, { readonly: true })
  await live(fake)
  await frameWith(r.lastFrame, 'broken')
  for (const k of ['s', '\x0b', 'x']) { r.stdin.write(k); await tick(20) }
  assert.is(fake.calls.filter(c => c[0] === 'runs.stop').length, 0)
  assert.equal(r.suspended, [])
  assert.is(r.flashes.filter(f => f.startsWith('read-only')).length, 3)
  assert.not.match(r.lastFrame()!, /Abort/)
})

test('empty: no runs says so; h asks for all runs (ps -a)', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: [] } })
  const r = mount(fake)
  await live(fake, [])
  await frameWith(r.lastFrame, 'no runs')
  r.stdin.write('h')
  await frameWith(r.lastFrame, 'all runs')
  await until(() => fake.calls.some(c => c[0] === 'runs.list' && c[1].all === true), 'runs.list with all: true')
})

test('error: the watch failing shows the error and is retried', async () => {
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: RUNS } })
  const r = mount(fake)
  await tick()
  fake.stream('runs.watch')!.fail(Object.assign(new Error('the daemon on /x/api.sock closed the connection'), { code: 'connection_closed' }))
  await frameWith(r.lastFrame, 'error: the daemon on /x/api.sock closed the connection')
  const again = await (async () => { for (let i = 0; i < 100; i++) { const s = fake.stream('runs.watch'); if (s && fake.streams.length > 1) return s; await tick(20) } })()
  assert.ok(again, 'the stream is opened again')
  again!.push({ runs: RUNS, index: 2 })
  await frameWith(r.lastFrame, 'broken')
})

test('a long list: only the rows that fit are drawn, the frame never exceeds its box', async () => {
  const many = Array.from({ length: 5000 }, (_, i) => run(`run-${String(i).padStart(4, '0')}`))
  const fake = fakeClient({ 'runs.list': { project: 'main', runs: many } })
  const r = mount(fake, { width: 80, height: 10 })
  await live(fake, many)
  const f = await frameWith(r.lastFrame, 'run-0000')
  const lines = f.split('\n')
  assert.ok(lines.length <= 10, `${lines.length} lines`)
  assert.ok(lines.every(l => l.length <= 80), 'no line wider than the box')
  r.stdin.write('G')
  await frameWith(r.lastFrame, 'run-4999')
  assert.match(r.lastFrame()!, /5000\/5000/)
})

test.run()
