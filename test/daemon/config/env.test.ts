import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { ConfigError } from '../../../daemon/config/errors.ts'
import { mergeEnv, parseEnv, parseEnvArg, resolveEnv } from '../../../daemon/config/env.ts'
import { fails, orConfigError } from './helpers.ts'

const VALID: Array<[string, unknown, Record<string, string | null>]> = [
  ['list: NAME=VALUE', ['A=1'], { A: '1' }],
  ['list: split on the first =', ['URL=x=y'], { URL: 'x=y' }],
  ['list: empty value', ['A='], { A: '' }],
  ['list: bare name passes through', ['B'], { B: null }],
  ['list: quotes kept literally', ['Q="a b"', "R='c'"], { Q: '"a b"', R: "'c'" }],
  ['list: underscores and digits', ['_X1=ok', 'a_b'], { _X1: 'ok', a_b: null }],
  ['list: multi-line value', ['K=line1\nline2'], { K: 'line1\nline2' }],
  ['list: order kept', ['B=2', 'A=1'], { B: '2', A: '1' }],
  ['list: empty', [], {}],
  ['map: string value', { A: 'x' }, { A: 'x' }],
  ['map: number becomes text', { PORT: 8080, F: 1.5 }, { PORT: '8080', F: '1.5' }],
  ['map: null passes through', { T: null }, { T: null }],
  ['map: empty', {}, {}]
]

for (const [rule, input, expected] of VALID) {
  test(`env ${rule}`, () => {
    const out = parseEnv(input)
    assert.equal(out, expected)
    assert.equal(Object.keys(out), Object.keys(expected))
  })
}

const INVALID: Array<[string, unknown, RegExp, Array<string | number>]> = [
  ['list: duplicate name is named', ['A=1', 'B', 'A=2'], /duplicate environment variable A/, [2]],
  ['list: duplicate bare name', ['A', 'A'], /duplicate environment variable A/, [1]],
  ['list: name starting with a digit', ['1A=x'], /expected NAME=VALUE or NAME.*"1A=x"/, [0]],
  ['list: name with a dash', ['A-B=x'], /"A-B=x"/, [0]],
  ['list: empty name', ['=x'], /"=x"/, [0]],
  ['list: a number entry', ['A=1', 5], /expected NAME=VALUE or NAME, got 5/, [1]],
  ['list: a nested list', [['A=1']], /got \["A=1"\]/, [0]],
  ['map: boolean is rejected', { A: true }, /expected a string, got true; quote it/, ['A']],
  ['map: nested mapping', { A: { b: 1 } }, /expected a string.*\{"b":1\}/, ['A']],
  ['map: list value', { A: [1] }, /expected a string/, ['A']],
  ['map: infinite number', { A: Infinity }, /expected a string/, ['A']],
  ['map: invalid name', { 'A B': 'x' }, /invalid environment variable name "A B"/, ['A B']],
  ['null is not an env', null, /expected a list of NAME=VALUE.*got null/, []],
  ['a string is not an env', 'A=1', /expected a list of NAME=VALUE.*got "A=1"/, []],
  ['a number is not an env', 3, /got 3/, []]
]

for (const [rule, input, message, path] of INVALID) {
  test(`env ${rule}`, () => fails(() => parseEnv(input), message, path))
}

test('env: every bad entry is reported, not only the first', () => {
  let caught: ConfigError | undefined
  try { parseEnv(['1=a', 'B', 'B', 7]) } catch (err) { caught = err as ConfigError }
  assert.ok(caught)
  assert.equal(caught.issues.map(i => i.path), [[0], [2], [3]])
})

test('env: a variable named __proto__ is a variable, not a prototype', () => {
  const out = parseEnv(['__proto__=x'])
  assert.is(Object.getPrototypeOf(out), Object.prototype)
  assert.equal(Object.entries(out), [['__proto__', 'x']])
  const merged = mergeEnv({}, out)
  assert.equal(Object.entries(merged), [['__proto__', 'x']])
  assert.equal(resolveEnv(parseEnv(['__proto__']), JSON.parse('{"__proto__": "y"}')), JSON.parse('{"__proto__": "y"}'))
  fails(() => resolveEnv(parseEnv(['__proto__']), {}), /^Environment variable __proto__ is not set$/, ['__proto__'])
})

test('parseEnvArg: -e K=V, -e K, and bad names', () => {
  assert.equal(parseEnvArg('K=V'), ['K', 'V'])
  assert.equal(parseEnvArg('K=a=b'), ['K', 'a=b'])
  assert.equal(parseEnvArg('K='), ['K', ''])
  assert.equal(parseEnvArg('K'), ['K', null])
  fails(() => parseEnvArg('=V'), /expected NAME=VALUE or NAME/)
  fails(() => parseEnvArg('9K=V'), /"9K=V"/)
  fails(() => parseEnvArg(''), /got ""/)
})

test('mergeEnv: CLI entries override configuration entries', () => {
  assert.equal(mergeEnv({ A: '1', B: '2', C: null }, { B: 'cli', C: 'set', D: null }), { A: '1', B: 'cli', C: 'set', D: null })
  assert.equal(Object.keys(mergeEnv({ A: '1', B: '2' }, { A: 'x' })), ['A', 'B'])
  // A bare `-e NAME` passes the variable through even where the file gives a value.
  assert.equal(mergeEnv({ A: '1' }, { A: null }), { A: null })
})

test('resolveEnv: pass-through names come from the local environment', () => {
  assert.equal(resolveEnv({ A: '1', B: null }, { B: 'local', C: 'unused' }), { A: '1', B: 'local' })
  assert.equal(resolveEnv({ B: null }, { B: '' }), { B: '' })
  // A set value is not replaced by the local one.
  assert.equal(resolveEnv({ A: 'file' }, { A: 'local' }), { A: 'file' })
})

test('resolveEnv: a missing pass-through variable is "Environment variable NAME is not set"', () => {
  fails(() => resolveEnv({ HF_TOKEN: null }, {}), /^Environment variable HF_TOKEN is not set$/, ['HF_TOKEN'])
  fails(() => resolveEnv({ HF_TOKEN: null }, { HF_TOKEN: undefined }), /^Environment variable HF_TOKEN is not set$/, ['HF_TOKEN'])
  let caught: ConfigError | undefined
  try { resolveEnv({ A: null, B: '1', C: null }, {}) } catch (err) { caught = err as ConfigError }
  assert.equal(caught?.issues.map(i => i.message), ['Environment variable A is not set', 'Environment variable C is not set'])
})

// Fuzz: random strings over a small alphabet and random nested values. (No null-prototype
// mappings: show() in errors.ts cannot print one that holds a BigInt; YAML gives neither.)
const ALPHABET = [...':/.@*0123456789ab~=${} _AZ\n']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 16 })
const key = fc.oneof(fc.constantFrom('A', 'B', '_x', 'A1'), str)
const { value } = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    str, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt(),
    fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }))
}))
const envLike = fc.oneof(value, fc.array(str, { maxLength: 6 }), fc.dictionary(key, fc.oneof(str, fc.integer(), fc.constant(null)), { maxKeys: 5 }))

test('env fuzz: only ConfigError, and the normalized map parses to itself', () => {
  fc.assert(fc.property(envLike, v => {
    const out = orConfigError(() => parseEnv(v))
    if (out !== undefined) assert.equal(parseEnv(out), out)
  }), { numRuns: 3000 })
  fc.assert(fc.property(str, s => {
    const out = orConfigError(() => parseEnvArg(s))
    if (out !== undefined) assert.equal(parseEnv([s]), { [out[0]]: out[1] })
  }), { numRuns: 2000 })
})

test.run()
