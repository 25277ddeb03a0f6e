import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { ConfigError } from '../../../daemon/config/errors.ts'
import { formatDuration, parseDuration, parseIdleDuration, parseInactivityDuration, parseOffableDuration } from '../../../daemon/config/duration.ts'
import { throwsConfig } from './helpers.ts'


test('duration grammar: ints, truncated floats, numeric strings, one lowercase unit', () => {
  const rows: Array<[unknown, number]> = [
    [300, 300], [0, 0], [-1, -1], [90.9, 90], [-1.5, -1], ['300', 300], [' 300 ', 300], ['-1', -1],
    ['30s', 30], ['5m', 300], ['1h', 3600], ['2d', 172800], ['1w', 604800], ['5 m', 300], ['5   h', 18000], ['0s', 0]
  ]
  for (const [input, seconds] of rows) assert.is(parseDuration(input), seconds, JSON.stringify(input))
})

test('duration grammar: several units, fractions, capitals and other units are errors', () => {
  const rows: Array<[unknown, RegExp]> = [
    ['1h30m', /use a single unit/], ['1.5h', /whole number/], ['1.5', /whole number/], ['2H', /units are lowercase/],
    ['2y', /the unit must be one of s, m, h, d, w/], ['h', /expected a duration/], ['', /expected a duration/],
    ['5 minutes', /the unit must be one of/], ['-5m', /expected a duration/], ['off', /expected a duration/],
    [true, /expected a duration/], [null, /expected a duration/], [NaN, /expected a duration/], [Infinity, /expected a duration/],
    [[5], /expected a duration/], [{ s: 5 }, /expected a duration/], ['99999999999999999999w', /too large/]
  ]
  for (const [input, pattern] of rows) throwsConfig(() => parseDuration(input), pattern, JSON.stringify(input))
})

test('offable (max_duration, stop_duration): off/false → off, true/null → default, negative → error', () => {
  const rows: Array<[unknown, number | 'off', number | 'off']> = [
    ['off', 300, 'off'], [false, 300, 'off'], [true, 300, 300], [null, 300, 300], [undefined, 300, 300],
    [true, 'off', 'off'], ['2h', 'off', 7200], [0, 300, 0], [90, 'off', 90]
  ]
  for (const [input, dflt, want] of rows) assert.is(parseOffableDuration(input, dflt), want, JSON.stringify(input))
  throwsConfig(() => parseOffableDuration(-1, 300), /cannot be negative/, '-1')
  throwsConfig(() => parseOffableDuration('-5', 300), /cannot be negative/, '"-5"')
  throwsConfig(() => parseOffableDuration('1h30m', 300), /single unit/, '1h30m')
})

test('idle (idle_duration): off/false/-1 → -1, any negative accepted, true/null → default', () => {
  const rows: Array<[unknown, number]> = [
    ['off', -1], [false, -1], [-1, -1], ['-1', -1], [-100, -1], [true, 300], [null, 300], [undefined, 300], ['3d', 259200], [0, 0]
  ]
  for (const [input, want] of rows) assert.is(parseIdleDuration(input, 300), want, JSON.stringify(input))
  throwsConfig(() => parseIdleDuration('2y', 300), /unit/, '2y')
})

test('inactivity (dev-env): off, false, true, null → disabled', () => {
  const rows: Array<[unknown, number | null]> = [
    ['off', null], [false, null], [true, null], [null, null], [undefined, null], ['2h', 7200], [600, 600]
  ]
  for (const [input, want] of rows) assert.is(parseInactivityDuration(input), want, JSON.stringify(input))
  throwsConfig(() => parseInactivityDuration(-5), /cannot be negative/, '-5')
  throwsConfig(() => parseInactivityDuration('1.5h'), /whole number/, '1.5h')
})

test('format: the largest exact unit, off for off or negative', () => {
  const rows: Array<[number | 'off', string]> = [
    [300, '5m'], [3600, '1h'], [90, '90s'], [259200, '3d'], [604800, '1w'], [1209600, '2w'], [5400, '90m'],
    [86400 + 3600, '25h'], [0, '0s'], ['off', 'off'], [-1, 'off'], [59, '59s']
  ]
  for (const [input, want] of rows) assert.is(formatDuration(input), want, String(input))
})

test('format: a formatted duration parses back to itself', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e9 }), s => parseDuration(formatDuration(s)) === s), { numRuns: 2000 })
})

const ALPHABET = [...'0123456789.:,smhdwSMHy off-+']
const text = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 10 })
const anything = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' }, text, fc.integer({ min: -100, max: 1e7 }), fc.double(), fc.boolean(), fc.constant(null),
    fc.constant(undefined), fc.array(tie('value'), { maxLength: 2 }), fc.dictionary(fc.constantFrom('s', 'm'), tie('value'), { maxKeys: 2 }))
})).value

test('fuzz: only ConfigError is thrown, and a parsed duration parses back to itself', () => {
  const parsers: Array<(v: unknown) => number | 'off' | null> = [
    parseDuration, v => parseOffableDuration(v, 300), v => parseIdleDuration(v, 300), parseInactivityDuration
  ]
  fc.assert(fc.property(anything, fc.nat(parsers.length - 1), (v, i) => {
    const parse = parsers[i]!
    let out: number | 'off' | null
    try {
      out = parse(v)
    } catch (err) {
      if (err instanceof ConfigError) return
      throw err
    }
    assert.is(parse(out ?? 'off'), out, `re-parse of ${String(out)}`)
    // formatDuration shows any negative as off, which only the idle flavour reads back as -1.
    if (out !== null && !(i === 0 && typeof out === 'number' && out < 0)) assert.is(parse(formatDuration(out)), out, `parse(format(${String(out)}))`)
  }), { numRuns: 4000 })
})

test.run()
