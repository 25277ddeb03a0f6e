import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { ConfigError } from '../../../daemon/config/errors.ts'
import { formatMemory, formatRange, intersectRanges, parseCount, parseMemory, parseRange, rangeContains } from '../../../daemon/config/range.ts'
import type { Range } from '../../../daemon/config/types.ts'
import { throwsConfig } from './helpers.ts'


const r = (min: number | null, max: number | null): Range => ({ min, max })

test('memory: numbers are GB; MB, GB and TB suffixes in any case; spaces ignored', () => {
  const rows: Array<[unknown, number]> = [
    [16, 16], [0.5, 0.5], [0, 0], ['16', 16], ['16GB', 16], ['16 Gb', 16], ['16gb', 16], ['512MB', 0.5],
    ['512 mb', 0.5], ['1 TB ', 1024], ['1tb', 1024], ['1.5GB', 1.5], [' 2 0 GB', 20], ['.5TB', 512], ['1e3', 1000], ['2.5e-1TB', 256]
  ]
  for (const [input, gb] of rows) assert.is(parseMemory(input), gb, JSON.stringify(input))
})

test('memory: other units, negatives and non-sizes are errors', () => {
  const rows: Array<[unknown, RegExp]> = [
    ['5GiB', /unknown memory unit "gib"/], ['5 KB', /unknown memory unit "kb"/], ['5 PB', /unknown memory unit/],
    ['-5GB', /cannot be negative/], [-1, /cannot be negative/], ['', /expected a memory size/], ['GB', /expected a memory size/],
    ['1.2.3GB', /expected a memory size/], ['inf', /expected a memory size/], [true, /expected a memory size/],
    [null, /expected a memory size/], [Infinity, /expected a memory size/], [NaN, /expected a memory size/],
    [[16], /expected a memory size/], [{ size: 1 }, /expected a memory size/], ['8GB..', /expected a memory size/]
  ]
  for (const [input, pattern] of rows) throwsConfig(() => parseMemory(input), pattern, JSON.stringify(input))
})

test('count: a whole number of at least 0', () => {
  assert.is(parseCount(0), 0)
  assert.is(parseCount('12'), 12)
  assert.is(parseCount(' 8 '), 8)
  throwsConfig(() => parseCount(2.5), /expected a count/, '2.5')
  throwsConfig(() => parseCount('2.5'), /expected a count/, '"2.5"')
  throwsConfig(() => parseCount(-1), /cannot be negative/, '-1')
  throwsConfig(() => parseCount('-3'), /cannot be negative/, '"-3"')
  throwsConfig(() => parseCount(true), /expected a count/, 'true')
  throwsConfig(() => parseCount('99999999999999999999'), /expected a count/, 'huge')
})

test('range: every accepted form', () => {
  const rows: Array<[string, unknown, 'count' | 'memory', Range]> = [
    ['N', 4, 'count', r(4, 4)],
    ['"N"', '4', 'count', r(4, 4)],
    ['a..b', '1..2', 'count', r(1, 2)],
    ['a..', '2..', 'count', r(2, null)],
    ['..b', '..8', 'count', r(null, 8)],
    ['spaces stripped', ' 1 .. 3 ', 'count', r(1, 3)],
    ['min = max as a range', '2..2', 'count', r(2, 2)],
    ['zero', '0..0', 'count', r(0, 0)],
    ['{min, max}', { min: 1, max: '3' }, 'count', r(1, 3)],
    ['{min} only', { min: 2 }, 'count', r(2, null)],
    ['{min, max: null}', { min: 2, max: null }, 'count', r(2, null)],
    ['{min: null, max}', { min: null, max: 8 }, 'count', r(null, 8)],
    ['memory N', 80, 'memory', r(80, 80)],
    ['memory with unit', '80GB', 'memory', r(80, 80)],
    ['memory open', '8GB..', 'memory', r(8, null)],
    ['memory units on each side', '512..1 TB', 'memory', r(512, 1024)],
    ['memory mixed units', '512MB..2GB', 'memory', r(0.5, 2)],
    ['memory bare second side', '16GB..32', 'memory', r(16, 32)],
    ['memory object with units', { min: '1TB', max: null }, 'memory', r(1024, null)],
    ['memory float', 0.5, 'memory', r(0.5, 0.5)]
  ]
  for (const [name, input, kind, want] of rows) assert.equal(parseRange(input, kind), want, name)
})

test('range: malformed ranges are errors', () => {
  const rows: Array<[string, unknown, 'count' | 'memory', RegExp]> = [
    ['..', '..', 'count', /".." is an empty range/],
    ['...', '...', 'count', /"..." is not a range/],
    ['1...3', '1...3', 'count', /"1...3" is not a range: use two dots/],
    ['1...3 memory', '1...3', 'memory', /"1...3" is not a range/],
    ['two ..', '1..2..3', 'count', /more than one/],
    ['min > max', '4..2', 'count', /min 4 is greater than max 2/],
    ['min > max memory', '2TB..1TB', 'memory', /min 2048GB is greater than max 1024GB/],
    ['min > max object', { min: 4, max: 2 }, 'count', /greater than max/],
    ['empty object', {}, 'count', /empty range/],
    ['both null', { min: null, max: null }, 'count', /empty range/],
    ['unknown key', { mn: 1 }, 'count', /mn: unknown field "mn" \(did you mean "min"\?\)/],
    ['bad bound in object', { min: 'x' }, 'count', /min: expected a count/],
    ['bad side', 'a..3', 'count', /"a\.\.3" is not a valid range: expected a count/],
    ['fraction count', '1.5', 'count', /expected a count/],
    ['negative count', -2, 'count', /cannot be negative/],
    ['negative in range', '-2..3', 'count', /cannot be negative/],
    ['count with unit', '8GB', 'count', /expected a count/],
    ['bad unit', '1..2XB', 'memory', /unknown memory unit/],
    ['null', null, 'count', /expected a count or a range/],
    ['boolean', true, 'memory', /expected a size or a range/],
    ['list', [1, 2], 'count', /expected a count or a range/],
    ['empty string', '', 'count', /expected a count/]
  ]
  for (const [name, input, kind, pattern] of rows) throwsConfig(() => parseRange(input, kind), pattern, name)
})

test('intersection: open ends are ±∞; disjoint ranges give null', () => {
  const rows: Array<[string, Range, Range, Range | null]> = [
    ['overlap', r(1, 4), r(2, 8), r(2, 4)],
    ['open with closed', r(2, null), r(null, 8), r(2, 8)],
    ['both open above', r(2, null), r(4, null), r(4, null)],
    ['both open below', r(null, 2), r(null, 4), r(null, 2)],
    ['touching', r(1, 2), r(2, 3), r(2, 2)],
    ['disjoint', r(1, 2), r(3, 4), null],
    ['disjoint open', r(8, null), r(null, 4), null],
    ['fully open', r(null, null), r(null, null), r(null, null)]
  ]
  for (const [name, a, b, want] of rows) {
    assert.equal(intersectRanges(a, b), want, name)
    assert.equal(intersectRanges(b, a), want, `${name} (swapped)`)
  }
})

test('contains: both ends inclusive', () => {
  assert.ok(rangeContains(r(2, 4), 2))
  assert.ok(rangeContains(r(2, 4), 4))
  assert.not.ok(rangeContains(r(2, 4), 5))
  assert.not.ok(rangeContains(r(2, 4), 1))
  assert.ok(rangeContains(r(null, 4), 0))
  assert.ok(rangeContains(r(2, null), 1e9))
})

test('format: ranges and sizes', () => {
  const rows: Array<[string, string]> = [
    [formatRange(r(2, null)), '2..'],
    [formatRange(r(null, 8)), '..8'],
    [formatRange(r(1, 2)), '1..2'],
    [formatRange(r(3, 3)), '3'],
    [formatRange(r(8, null), 'GB'), '8GB..'],
    [formatRange(r(80, 80), 'GB'), '80GB'],
    [formatRange(r(24, 40), 'GB'), '24GB..40GB'],
    [formatRange(r(0.5, 2), 'GB'), '512MB..2GB'],
    [formatMemory(0.5), '512MB'],
    [formatMemory(1024), '1024GB'],
    [formatMemory(0), '0GB'],
    [formatMemory(0.1), '0.1GB']
  ]
  for (const [got, want] of rows) assert.is(got, want)
})

test('format: a formatted range or size parses back to itself', () => {
  fc.assert(fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), gb => parseMemory(formatMemory(gb)) === gb), { numRuns: 2000 })
  const bound = fc.option(fc.integer({ min: 0, max: 100000 }), { nil: null })
  fc.assert(fc.property(bound, bound, (a, b) => {
    if (a === null && b === null) return
    const range = r(a !== null && b !== null ? Math.min(a, b) : a, a !== null && b !== null ? Math.max(a, b) : b)
    assert.equal(parseRange(formatRange(range), 'count'), range)
    assert.equal(parseRange(formatRange(range, 'GB'), 'memory'), range)
  }), { numRuns: 2000 })
})

const ALPHABET = [...'0123456789.:,GBMTgbmt AHLx86arm-']
const text = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 14 })
const scalar = fc.oneof(text, fc.integer({ min: -5, max: 5000 }), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('..', '...', '1...3', '8GB..', '..80GB', '512..1 TB', '2..1'))
const anything = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' }, scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('min', 'max', 'x', 'size'), tie('value'), { maxKeys: 3 }))
})).value

test('fuzz: parsers throw only ConfigError, and a normalized range parses back to itself', () => {
  fc.assert(fc.property(anything, fc.constantFrom('count' as const, 'memory' as const), (v, kind) => {
    let out: Range
    try {
      out = parseRange(v, kind)
    } catch (err) {
      if (err instanceof ConfigError) return
      throw err
    }
    assert.equal(parseRange(out, kind), out)
    assert.equal(parseRange(formatRange(out, kind === 'memory' ? 'GB' : undefined), kind), out)
  }), { numRuns: 4000 })
  fc.assert(fc.property(anything, v => {
    try {
      const gb = parseMemory(v)
      assert.is(parseMemory(gb), gb)
      assert.is(parseMemory(formatMemory(gb)), gb)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
    }
  }), { numRuns: 3000 })
})

test.run()
