import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { isWindowsAbsolute, parseFileMapping, splitLocalPathSpec } from '../../../daemon/config/files.ts'
import type { FileMapping } from '../../../daemon/config/types.ts'
import { fails, orConfigError } from './helpers.ts'

const fm = (local_path: string, path: string): FileMapping => ({ local_path, path })

const VALID: Array<[string, unknown, FileMapping]> = [
  ['"local" alone: the path is the same', 'data/x.csv', fm('data/x.csv', 'data/x.csv')],
  ['"local:path"', './cfg.yml:/etc/app/cfg.yml', fm('./cfg.yml', '/etc/app/cfg.yml')],
  ['a relative container path', '~/.ssh/id_rsa:keys/id', fm('~/.ssh/id_rsa', 'keys/id')],
  ['a Windows drive in local, with a path', 'C:\\Users\\me\\x:/x', fm('C:\\Users\\me\\x', '/x')],
  ['a Windows drive with forward slashes', 'c:/data:/data', fm('c:/data', '/data')],
  ['object form', { local_path: 'a', path: '/b' }, fm('a', '/b')],
  ['object form, numbers become text', { local_path: 1, path: 2 }, fm('1', '2')],
  ['a relative Windows path in the container is allowed', 'a:rel\\x', fm('a', 'rel\\x')]
]

for (const [rule, input, expected] of VALID) {
  test(`files: ${rule}`, () => assert.equal(parseFileMapping(input), expected))
}

const INVALID: Array<[string, unknown, RegExp, Array<string | number>]> = [
  ['a Windows drive alone (the path would be Windows-absolute)', 'C:\\x', /must be a Unix path in the container, got "C:\\\\x"/, []],
  ['a Windows container path', 'a:C:/x', /at most one colon|Unix path/, []],
  ['a UNC container path', { local_path: 'a', path: '\\\\server\\share\\x' }, /Unix path/, ['path']],
  ['a Windows container path in an object', { local_path: 'a', path: 'D:\\x' }, /Unix path/, ['path']],
  ['a one-letter local path before an absolute path reads as a Windows drive', 'a:/x', /Unix path in the container, got "a:\/x"/, []],
  ['three parts', 'a:b:c', /at most one colon.*"a:b:c"/, []],
  ['an empty string', '', /expected a local path, got an empty string/, []],
  ['an empty container path', 'a:', /expected a container path, got an empty string/, []],
  ['an empty local path', ':/x', /expected a local path, got an empty string/, []],
  ['object: missing path', { local_path: 'a' }, /is required/, ['path']],
  ['object: missing local_path', { path: '/a' }, /is required/, ['local_path']],
  ['object: an unknown key', { local_path: 'a', path: '/b', mode: 1 }, /unknown field "mode"/, ['mode']],
  ['object: a list value', { local_path: ['a'], path: '/b' }, /expected a local path/, ['local_path']],
  ['a number', 5, /expected "local_path\[:path\]" or \{local_path, path\}, got 5/, []],
  ['null', null, /got null/, []]
]

for (const [rule, input, message, path] of INVALID) {
  test(`files: ${rule} is an error`, () => fails(() => parseFileMapping(input), message, path))
}

test('splitLocalPathSpec and isWindowsAbsolute', () => {
  assert.equal(splitLocalPathSpec('C:\\x:/y'), ['C:\\x', '/y'])
  assert.equal(splitLocalPathSpec('C:x'), ['C', 'x'])
  assert.equal(splitLocalPathSpec('ab:/x'), ['ab', '/x'])
  assert.equal(['C:/x', 'c:\\x', '//srv/share', '\\\\srv\\share', '/x', 'C:', 'C:x', '//x', 'x\\y'].map(isWindowsAbsolute),
    [true, true, true, true, false, false, false, false, false])
})

// Fuzz: random strings over a small alphabet and random nested values. (No null-prototype
// mappings: show() in errors.ts cannot print one that holds a BigInt; YAML gives neither.)
const ALPHABET = [...':/.@*0123456789ab~=${} \\C']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 16 })
const key = fc.oneof(fc.constantFrom('local_path', 'path'), str)
const { value } = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    str, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt(),
    fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: true }))
}))

test('files fuzz: only ConfigError, and a normalized mapping parses to itself', () => {
  fc.assert(fc.property(fc.oneof(str, value), v => {
    const out = orConfigError(() => parseFileMapping(v))
    if (out === undefined) return
    assert.equal(parseFileMapping(out), out)
    assert.not.ok(isWindowsAbsolute(out.path))
    // The string form round-trips when its parts hold no colon and the local path is not a
    // single letter (`a:/x` reads as a Windows drive).
    if (!out.local_path.includes(':') && !out.path.includes(':') && !/^[A-Za-z]$/.test(out.local_path)) assert.equal(parseFileMapping(`${out.local_path}:${out.path}`), out)
  }), { numRuns: 4000 })
})

test.run()
