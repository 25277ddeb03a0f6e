// The Logs screen: output as it comes, follow and scroll, head/tail and time windows, wrap,
// timestamps, the filter, and its loading, empty and error states.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createElement as h } from 'react'
import { render, cleanup } from 'ink-testing-library'
import type { ScreenProps } from '../../../tui/app/screen.ts'
import { logsScreen, parseLogTarget } from '../../../tui/app/screens/logs.tsx'
import { NO_FILTER, parseFilter } from '../../../tui/app/state/filter.ts'
import { fakeClient, frameWith, job, plain, tick, until, type Fake } from './fake.ts'

function mount (fake: Fake, over: Partial<ScreenProps> = {}) {
  const props: ScreenProps = {
    client: fake.client, width: 60, height: 8, filter: NO_FILTER, active: true, readonly: false, arg: 'train',
    go: () => {}, flash: () => {}, suspend: async () => 0, ...over
  }
  const r = render(h(logsScreen.Component, props))
  return { ...r, lastFrame: () => plain(r.lastFrame()), rerender: (p: Partial<ScreenProps>) => r.rerender(h(logsScreen.Component, { ...props, ...p })) }
}

const piece = (text: string, at = Date.UTC(2026, 0, 2, 3, 4, 5), submission = 0) => ({ submission, at, data: Buffer.from(text).toString('base64') })
const JOBS = { 'jobs.get': [job()] }

test.after.each(() => cleanup())

test('the target: RUN, or RUN:REPLICA:JOB', () => {
  assert.equal(parseLogTarget('train'), { run: 'train', replica: 0, job: 0 })
  assert.equal(parseLogTarget('train:1:2'), { run: 'train', replica: 1, job: 2 })
  assert.equal(parseLogTarget('a:b'), { run: 'a:b', replica: 0, job: 0 })
})

test('loading, then lines as they come; following shows the end; the stream asks to follow', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await frameWith(r.lastFrame, 'loading')
  await until(() => fake.stream('logs'), 'the logs stream')
  const s = fake.stream('logs')!
  assert.equal(s.params, { run: 'train', replica: 0, job: 0, follow: true, since: undefined })
  s.push(piece(Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\r\n') + '\r\n'))
  let f = await frameWith(r.lastFrame, 'line 20')
  assert.not.match(f, /line 13\n/, 'only the last lines fit')
  assert.match(f, /20 lines · following/)
  s.push(piece('\x1b[31mred\x1b[0m and progress 10%\rprogress 100%\r\n'))
  f = await frameWith(r.lastFrame, 'progress 100%')
  assert.match(f, /red and progress|progress 100%/)
  assert.not.match(f, /10%/, 'what a \\r overwrote is gone')
})

test('1 goes to the head and stops following, 0 back to the tail; scrolling up stops following', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  fake.stream('logs')!.push(piece(Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n') + '\n'))
  await frameWith(r.lastFrame, 'line 50')
  r.stdin.write('1')
  let f = await frameWith(r.lastFrame, 'at 1')
  assert.match(f, /^line 1\n/)
  r.stdin.write('0')
  f = await frameWith(r.lastFrame, 'following')
  assert.match(f, /line 50/)
  r.stdin.write('k')
  await frameWith(r.lastFrame, x => !x.includes('following'))
})

test('2..6 reopen the stream for the last 1m..1h', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  const before = Date.now()
  r.stdin.write('3')
  await until(() => fake.stream('logs')?.params.since !== undefined, 'a stream with since')
  const since = fake.stream('logs')!.params.since as number
  assert.ok(since >= before - 300_000 - 1000 && since <= Date.now() - 300_000 + 1000, 'five minutes back')
  await frameWith(r.lastFrame, 'last 5m')
})

test('w wraps long lines, t shows timestamps', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake, { width: 20 })
  await until(() => fake.stream('logs'), 'the logs stream')
  fake.stream('logs')!.push(piece('abcdefghijklmnopqrstuvwxyz0123456789\n'))
  let f = await frameWith(r.lastFrame, 'abcdefghij')
  assert.match(f, /abcdefghijklmnopqrs…/)
  r.stdin.write('w')
  f = await frameWith(r.lastFrame, 'abcdefghijklmnopqrst\nuvwxyz0123456789')
  r.stdin.write('t')
  f = await frameWith(r.lastFrame, '2026-01-02 03:04:05')
  assert.ok(f.split('\n').every(l => l.length <= 20))
})

test('the filter shows only matching lines and says how many of all', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  fake.stream('logs')!.push(piece('epoch 1 loss 0.9\nsaving\nepoch 2 loss 0.5\n'))
  await frameWith(r.lastFrame, 'epoch 2')
  const f = parseFilter('epoch')
  if ('error' in f) throw new Error(f.error)
  r.rerender({ filter: f.filter })
  const frame = await frameWith(r.lastFrame, '2 of 3 lines')
  assert.not.match(frame, /saving/)
  fake.stream('logs')!.push(piece('epoch 3 loss 0.2\nsaving\n'))
  await frameWith(r.lastFrame, '3 of 5 lines')
})

test('a retried job: a line marks where the next attempt begins', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  fake.stream('logs')!.push(piece('first try\n', undefined, 0))
  fake.stream('logs')!.push(piece('second try\n', undefined, 1))
  const f = await frameWith(r.lastFrame, 'second try')
  assert.match(f, /first try\n── attempt 2 ──\nsecond try/)
})

test('empty and error states', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  fake.stream('logs')!.end()
  await frameWith(r.lastFrame, 'no output yet')
  const bad = fakeClient(JOBS)
  const r2 = mount(bad, { arg: 'nope' })
  await until(() => bad.stream('logs'), 'the logs stream')
  bad.stream('logs')!.fail(Object.assign(new Error('run nope: not found'), { code: 'not_found' }))
  await frameWith(r2.lastFrame, 'error: run nope: not found')
  await tick(600)
  assert.is(bad.streams.length, 1, 'a refused stream is not retried')
})

test('100,000 lines: the frame holds only what fits', async () => {
  const fake = fakeClient(JOBS)
  const r = mount(fake)
  await until(() => fake.stream('logs'), 'the logs stream')
  const text = Array.from({ length: 100_000 }, (_, i) => `line ${i + 1}`).join('\n') + '\n'
  fake.stream('logs')!.push(piece(text))
  const f = await frameWith(r.lastFrame, 'line 100000')
  assert.ok(f.split('\n').length <= 8)
  assert.match(f, /100000 lines/)
})

test.run()
