// The Events screen: the audit stream live, newest first, filtered by `/`, `l` to a run's logs.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { StateEvent } from '../../../daemon/api/views.ts'
import { eventsScreen } from '../../../tui/app/screens/events.tsx'
import { fakeClient, feed, mount, press, until, widest } from './screen-fake.ts'

const ev = (seq: number, kind: string, message: string, run?: string): StateEvent => ({ seq, at: Date.UTC(2026, 11, 5, 23, 0, seq), kind, message, ...(run ? { run } : {}) })

test('waiting, then events as they come, newest first, followed with follow: true', async () => {
  const events = feed<StateEvent>()
  const m = mount(eventsScreen, { client: fakeClient({}, { 'events.list': events }) })
  await until(m, f => f.includes('Waiting for events'), 'the waiting line')
  assert.equal(events.params, { follow: true })
  events.push(ev(1, 'run.submitted', 'run train submitted by admin', 'train'))
  await until(m, f => f.includes('run train submitted'), 'the first event')
  events.push(ev(2, 'job.running', 'train-0 running on gpu-01', 'train'))
  const frame = await until(m, f => f.includes('train-0 running'), 'the second event')
  const lines = frame.split('\n')
  assert.match(lines[0]!, /TIME\s+KIND\s+MESSAGE/)
  assert.ok(lines.findIndex(l => l.includes('job.running')) < lines.findIndex(l => l.includes('run.submitted')), 'newest first')
  assert.match(frame, /2026-12-05T23:00:02/)
  assert.ok(widest(frame) <= 80)
  m.unmount()
  await until(m, () => events.left, 'the stream left')
})

test('/ filters, /! inverts; no match says how many there are', async () => {
  const events = feed<StateEvent>()
  const m = mount(eventsScreen, { client: fakeClient({}, { 'events.list': events }) })
  events.push(ev(1, 'run.submitted', 'run a submitted', 'a'))
  events.push(ev(2, 'instance.unreachable', 'gpu-02 unreachable'))
  await until(m, f => f.includes('gpu-02 unreachable') && f.includes('run a'), 'both')
  m.rerender({ filter: { pattern: /unreachable/, invert: false } })
  await until(m, f => !f.includes('run a submitted') && f.includes('gpu-02'), 'only the unreachable host')
  m.rerender({ filter: { pattern: /unreachable/, invert: true } })
  await until(m, f => f.includes('run a submitted') && !f.includes('gpu-02'), 'all but it')
  m.rerender({ filter: { pattern: /zzz/, invert: false } })
  await until(m, f => f.includes('No event matches the filter (2 events)'), 'the empty filter')
  m.unmount()
})

test('l goes to the logs of the selected event\'s run; an event without a run says so', async () => {
  const events = feed<StateEvent>()
  const m = mount(eventsScreen, { client: fakeClient({}, { 'events.list': events }) })
  events.push(ev(1, 'run.submitted', 'run train submitted', 'train'))
  events.push(ev(2, 'instance.joined', 'gpu-03 joined'))
  await until(m, f => f.includes('gpu-03') && f.includes('train'), 'the events')
  await press(m, 'l')
  await until(m, () => m.flashes.length > 0, 'a flash')
  assert.is(m.flashes[0]!.kind, 'error')
  await press(m, 'j')
  await press(m, 'l')
  await until(m, () => m.went.length > 0, 'a jump')
  assert.equal(m.went[0], { screen: 'logs', arg: 'train' })
  m.unmount()
})

test('keys only while active', async () => {
  const events = feed<StateEvent>()
  const m = mount(eventsScreen, { client: fakeClient({}, { 'events.list': events }), active: false })
  events.push(ev(1, 'run.submitted', 'run train submitted', 'train'))
  await until(m, f => f.includes('train'), 'the event')
  await press(m, 'l')
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.equal(m.went, [])
  m.unmount()
})

test('an error is shown; the stream is opened again', async () => {
  const events = feed<StateEvent>()
  const m = mount(eventsScreen, { client: fakeClient({}, { 'events.list': events }) })
  events.fail(Object.assign(new Error('connection to the daemon closed'), { code: 'connection_closed' }))
  await until(m, f => f.includes('events: connection to the daemon closed'), 'the error')
  events.push(ev(1, 'run.submitted', 'run back submitted', 'back'))
  await until(m, f => f.includes('run back submitted'), 'the stream again')
  assert.is(events.opened, 2)
  m.unmount()
})

test.run()
