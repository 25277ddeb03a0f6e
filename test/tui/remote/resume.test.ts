// What a stream gives after a reconnection: each method's resumption asks again from where it
// was and drops what the caller already has, so no item is lost or given twice.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { resumption } from '../../../tui/remote/resume.ts'

const piece = (submission: number, at: number, offset: number, text: string) => ({ submission, at, offset, data: Buffer.from(text).toString('base64') })
const text = (item: { data: string } | undefined) => item === undefined ? undefined : Buffer.from(item.data, 'base64').toString()

test('logs: asks again since the last piece\'s time, drops what it gave, trims an overlap', () => {
  const r = resumption('logs', { run: 'r', follow: true, since: 5 })!
  assert.equal(r.params(), { run: 'r', follow: true, since: 5 })
  assert.is(text(r.accept(piece(0, 10, 0, 'one\n'))), 'one\n')
  assert.is(text(r.accept(piece(0, 20, 4, 'two\n'))), 'two\n')
  assert.equal(r.params(), { run: 'r', follow: true, since: 20 })
  // After the reconnection: the piece at the same time comes again, then one that overlaps.
  assert.is(r.accept(piece(0, 20, 4, 'two\n')), undefined)
  const overlap = r.accept(piece(0, 20, 4, 'two\nthree\n'))!
  assert.is(text(overlap), 'three\n')
  assert.is(overlap.offset, 8)
  assert.is(text(r.accept(piece(0, 30, 14, 'four\n'))), 'four\n')
  // A retried job's next submission starts at offset 0; an older submission is history.
  assert.is(text(r.accept(piece(1, 40, 0, 'again\n'))), 'again\n')
  assert.is(r.accept(piece(0, 50, 19, 'late\n')), undefined)
})

test('logs: a --since later than the last piece stays', () => {
  const r = resumption('logs', { run: 'r', follow: true, since: 100 })!
  r.accept(piece(0, 50, 0, 'x'))
  assert.is(r.params().since, 100)
})

test('runs.watch: the same state again is dropped, a new one passes', () => {
  const r = resumption('runs.watch', { name: 'r' })!
  const s1 = { runs: [{ name: 'r', status: 'running' }], index: 1 }
  assert.is(r.accept(s1), s1)
  assert.is(r.accept({ ...s1, index: 2 }), undefined)
  const s2 = { runs: [{ name: 'r', status: 'done' }], index: 3 }
  assert.is(r.accept(s2), s2)
  assert.equal(r.params(), { name: 'r' })
})

test('events.list: asks for the events after the last one', () => {
  const r = resumption('events.list', { follow: true })!
  r.accept({ seq: 7, at: 1, kind: 'k', message: 'm' })
  assert.equal(r.params(), { follow: true, after: 7 })
  assert.is(r.accept({ seq: 7, at: 1, kind: 'k', message: 'm' }), undefined)
})

test('a stream without a resumption has none (it fails with the lost link)', () => {
  assert.is(resumption('artifacts.read', { run: 'r', path: 'p' }), undefined)
})

test.run()
