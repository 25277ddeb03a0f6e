// The CLI's flag parser: every value checked in one place, every mistake a UsageError naming
// the flag; and the helpers the commands print through.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { listOf, nonNegative, oneOf, parseFlags, UsageError, wholeNumber } from '../../tui/flags.ts'
import { errorText, jobOutput } from '../../tui/format.ts'
import { groupingOf, groupOffers, groupTable } from '../../tui/commands/offer.ts'
import type { OfferView } from '../../daemon/api/views.ts'

function usage (f: () => unknown, re: RegExp): void {
  try { f() } catch (err) {
    assert.instance(err, UsageError)
    assert.match((err as Error).message, re)
    return
  }
  assert.unreachable(`expected a UsageError matching ${re}`)
}

const FLAGS = {
  'max-offers': { type: 'string', check: wholeNumber },
  'max-price': { type: 'string', check: nonNegative },
  'spot-policy': { type: 'string', check: oneOf('spot', 'on-demand', 'auto') },
  'group-by': { type: 'string', check: listOf('gpu', 'backend') },
  instance: { type: 'string', short: 'i', multiple: true, check: wholeNumber },
  yes: { type: 'boolean', short: 'y' }
} as const

test('numbers: a whole number is a whole number', () => {
  assert.is(parseFlags(['--max-offers', '7'], FLAGS).values['max-offers'], '7')
  usage(() => parseFlags(['--max-offers', 'abc'], FLAGS), /^--max-offers: expected a whole number, got "abc"$/)
  for (const bad of ['', '1.5', '1e3', ' 3', '0x10', '99999999999999999999']) usage(() => parseFlags([`--max-offers=${bad}`], FLAGS), /--max-offers: expected a whole number/)
})

test('numbers: a price is a number of at least 0', () => {
  for (const ok of ['0', '1', '0.5', '.5', '12.25']) assert.is(parseFlags(['--max-price', ok], FLAGS).values['max-price'], ok)
  for (const bad of ['abc', '1,5', 'NaN', 'Infinity', '1.']) usage(() => parseFlags([`--max-price=${bad}`], FLAGS), /--max-price: expected a number of at least 0/)
})

test('enums and lists name what they take', () => {
  usage(() => parseFlags(['--spot-policy', 'cheap'], FLAGS), /--spot-policy: expected one of spot, on-demand, auto, got "cheap"/)
  assert.is(parseFlags(['--group-by', 'gpu,backend'], FLAGS).values['group-by'], 'gpu,backend')
  usage(() => parseFlags(['--group-by', 'gpu,zone'], FLAGS), /--group-by: expected a comma-separated list of gpu, backend, got "zone"/)
  usage(() => parseFlags(['--group-by', 'gpu,gpu'], FLAGS), /gpu is given twice/)
})

test('every value of a repeated flag is checked', () => {
  assert.equal(parseFlags(['-i', '1', '-i', '2'], FLAGS).values.instance, ['1', '2'])
  usage(() => parseFlags(['-i', '1', '-i', 'two'], FLAGS), /--instance: expected a whole number, got "two"/)
})

test('unknown flags, missing values and stray arguments are usage errors', () => {
  usage(() => parseFlags(['--bogus'], FLAGS), /Unknown option '--bogus'/)
  usage(() => parseFlags(['--max-offers'], FLAGS), /--max-offers/)
  usage(() => parseFlags(['extra'], FLAGS), /Unexpected argument 'extra'/)
  assert.equal(parseFlags(['extra', '-y'], FLAGS, { positionals: true }).positionals, ['extra'])
})

test('errorText: a file the system refused names the file, never ENOENT', () => {
  assert.is(errorText(Object.assign(new Error("ENOENT: no such file or directory, open 'x.yml'"), { code: 'ENOENT', path: 'x.yml' })), 'x.yml: no such file or directory')
  assert.is(errorText(Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR', path: '/tmp' })), '/tmp: is a directory, not a file')
  assert.is(errorText(Object.assign(new Error('run x not found'), { code: 'not_found' })), 'run x not found')
})

function sink (isTTY: boolean): { stream: NodeJS.WriteStream, text: () => string } {
  const chunks: Buffer[] = []
  const stream = { isTTY, write: (b: Buffer | string) => { chunks.push(Buffer.from(b)); return true } } as unknown as NodeJS.WriteStream
  return { stream, text: () => Buffer.concat(chunks).toString('latin1') }
}

test('jobOutput: \\r\\n becomes \\n into a pipe, even split across chunks; a lone \\r stays', () => {
  const s = sink(false)
  const out = jobOutput(s.stream)
  for (const c of ['one\r\ntwo\r', '\nprogress 50%\rprogress 100%\r\n', '\r', 'x\r']) out.write(Buffer.from(c, 'latin1'))
  out.end()
  assert.is(s.text(), 'one\ntwo\nprogress 50%\rprogress 100%\n\rx\r')
})

test('jobOutput: a terminal gets the bytes as they are', () => {
  const s = sink(true)
  const out = jobOutput(s.stream)
  out.write(Buffer.from('a\r\nb\r'))
  out.end()
  assert.is(s.text(), 'a\r\nb\r')
})

function offerView (gpus: number, o: { backend?: string, region?: string, price?: number, spot?: boolean, gpu?: string } = {}): OfferView {
  const offer = {
    backend: o.backend ?? 'local', region: o.region ?? 'local', instance_type: 'vm', price: o.price ?? 0, spot: o.spot ?? false,
    cpu_arch: null, cpus: 8, memory: 32, disk: 100,
    gpus: Array.from({ length: gpus }, () => ({ vendor: 'nvidia' as const, name: o.gpu ?? 'L4', memory: 24 }))
  }
  return { backend: offer.backend, region: offer.region, instance_type: 'vm', instance: 'h', resources: '', price: offer.price, spot: offer.spot, availability: 'idle', offer }
}

test('--group-by gpu: one row per GPU model, count and $/GPU as ranges; CPU-only offers left out', () => {
  const offers = [offerView(2, { price: 2 }), offerView(4, { price: 2, backend: 'aws', region: 'us' }), offerView(1, { gpu: 'A100', price: 3 }), offerView(0)]
  const by = groupingOf('gpu')
  const text = groupTable(groupOffers(offers, by), by)
  assert.equal(text.split('\n').map(l => l.split(/\s{2,}/)), [
    ['#', 'GPU', 'SPOT', '$/GPU'],
    ['1', 'L4:24GB:2..4', 'on-demand', '$0.5..$1'],
    ['2', 'A100:24GB:1', 'on-demand', '$3']
  ])
})

test('--group-by gpu,backend,region,count: a row per combination, with their columns', () => {
  const offers = [offerView(2, { price: 2 }), offerView(2, { price: 4, spot: true }), offerView(4, { price: 2, backend: 'aws', region: 'us' })]
  const by = groupingOf('gpu,backend,region,count')
  const rows = groupTable(groupOffers(offers, by), by).split('\n').map(l => l.split(/\s{2,}/))
  assert.equal(rows, [
    ['#', 'GPU', 'SPOT', '$/GPU', 'BACKEND', 'REGION'],
    ['1', 'L4:24GB:4', 'on-demand', '$0.5', 'aws', 'us'],
    ['2', 'L4:24GB:2', 'on-demand, spot', '$1..$2', 'local', 'local']
  ])
})

test('--group-by needs gpu, and region needs backend', () => {
  usage(() => groupingOf('backend'), /include gpu/)
  usage(() => groupingOf('gpu,region'), /add backend/)
})

test.run()
