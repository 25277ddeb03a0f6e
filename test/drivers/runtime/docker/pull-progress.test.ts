// Pull progress from engine pull streams recorded as the Docker API sends them (fixtures under
// test/fixtures/docker-pull), in dstack's words (SPEC §3.3).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { formatPullProgress, progressThrottle, pullTracker, type PullEvent } from '../../../../drivers/runtime/docker/pull-progress.ts'

const fixture = (name: string): PullEvent[] => readFileSync(new URL(`../../../fixtures/docker-pull/${name}`, import.meta.url), 'utf8')
  .split(/\r?\n/).filter(Boolean).map(line => JSON.parse(line) as PullEvent)

/** The text after each event, as the tracker sees the stream. */
function replay (events: PullEvent[]): string[] {
  const t = pullTracker()
  return events.map(e => { t.update(e); const p = t.progress(); return p ? formatPullProgress(p) : '' })
}

test('no layer heard of yet: no progress', () => {
  const t = pullTracker()
  t.update({ status: 'Pulling from library/python', id: '3.11-slim' })
  t.update({ status: 'Digest: sha256:00' })
  assert.is(t.progress(), null)
})

test('a whole pull ends extracted = downloaded = total, the total final', () => {
  const texts = replay(fixture('python-3.11-slim.ndjson'))
  // 29124184 + 3511023 + 12008711 + 245 bytes = 42.58 MiB; a layer that already exists adds nothing.
  assert.is(texts.at(-1), '43/43/43MB')
})

test('while a layer has not said its size the total is a lower bound (≥)', () => {
  const events = fixture('python-3.11-slim.ndjson')
  const texts = replay(events)
  assert.is(texts[1], '0/0/0MB', 'a layer that already exists is complete')
  assert.is(texts[2], '0/0/≥0MB', 'a layer announced without a size')
  const firstDownload = events.findIndex(e => e.status === 'Downloading')
  assert.is(texts[firstDownload], '0/0/≥28MB')
  assert.ok(texts.some(t => /^\d+\/\d+\/\d+MB$/.test(t) && t !== '43/43/43MB'), 'some text in between has a final total')
})

test('downloaded runs ahead of extracted, and neither ever passes the total', () => {
  for (const text of replay(fixture('python-3.11-slim.ndjson')).filter(Boolean)) {
    const [e, d, t] = text.replace('≥', '').replace('MB', '').split('/').map(Number) as [number, number, number]
    assert.ok(e <= d && d <= t, text)
  }
})

test('GB with 2 decimals once the total reaches 1 GiB', () => {
  const events = fixture('cuda-devel-interrupted.ndjson').filter(e => !e.errorDetail)
  const texts = replay(events)
  // Two layers sized (1.5 + 0.5 GiB), the third not yet: a lower bound.
  assert.is(texts.at(-2), '0.00/0.75/≥2.00GB')
  // 1.5 + 0.5 GiB + 100 MiB; 0.5 + 0.25 GiB + 1 byte downloaded.
  assert.is(texts.at(-1), '0.00/0.75/2.10GB')
})

test('MB below 1 GiB, no decimals', () => {
  assert.is(formatPullProgress({ extractedBytes: 0, downloadedBytes: 12.4 * 2 ** 20, totalBytes: 1023.6 * 2 ** 20, totalFinal: true }), '0/12/1024MB')
  assert.is(formatPullProgress({ extractedBytes: 2 ** 30, downloadedBytes: 2 ** 30, totalBytes: 2 ** 30, totalFinal: true }), '1.00/1.00/1.00GB')
})

test('progress counted in other units than bytes is not bytes', () => {
  const t = pullTracker()
  t.update({ status: 'Pulling fs layer', id: 'l1' })
  t.update({ status: 'Extracting', id: 'l1', progressDetail: { current: 3, total: 9, units: 's' } })
  assert.equal(t.progress(), { extractedBytes: 0, downloadedBytes: 0, totalBytes: 0, totalFinal: false })
})

test('throttle: one text per interval, the same text never twice, the last held back goes out on flush', () => {
  let now = 0
  const out: string[] = []
  const th = progressThrottle(t => out.push(t), 500, () => now)
  th.push('1/2/3MB')
  now = 100; th.push('2/2/3MB')
  now = 200; th.push('3/3/3MB')
  assert.equal(out, ['1/2/3MB'])
  now = 600; th.push('3/3/3MB')
  assert.equal(out, ['1/2/3MB', '3/3/3MB'])
  now = 700; th.push('3/3/3MB')
  th.flush()
  assert.equal(out, ['1/2/3MB', '3/3/3MB'], 'nothing new held back')
  now = 800; th.push('4/4/4MB')
  th.flush()
  assert.equal(out, ['1/2/3MB', '3/3/3MB', '4/4/4MB'])
})

test('a whole recorded pull through the throttle: a handful of updates, the last one complete', () => {
  let now = 0
  const out: string[] = []
  const th = progressThrottle(t => out.push(t), 500, () => now)
  const t = pullTracker()
  for (const e of fixture('python-3.11-slim.ndjson')) {
    now += 20 // the engine sends many events a second
    t.update(e)
    const p = t.progress()
    if (p) th.push(formatPullProgress(p))
  }
  th.flush()
  assert.ok(out.length >= 2 && out.length <= 4, out.join(' '))
  assert.is(out.at(-1), '43/43/43MB')
})

test.run()
