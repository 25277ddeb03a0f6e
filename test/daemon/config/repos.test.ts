import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { homedir } from 'node:os'
import { parseRepoSpec, resolveRepoLocalPath } from '../../../daemon/config/repos.ts'
import type { RepoSpec } from '../../../daemon/config/types.ts'
import { fails, orConfigError } from './helpers.ts'

const spec = (fields: Partial<RepoSpec>): RepoSpec =>
  ({ local_path: null, url: null, branch: null, hash: null, path: '.', if_exists: 'error', ...fields })

const VALID: Array<[string, unknown, RepoSpec]> = [
  ['a local path', '.', spec({ local_path: '.' })],
  ['a local path with a container path', '../repo:/workflow', spec({ local_path: '../repo', path: '/workflow' })],
  ['"~" and "~/x" are allowed', '~/src/repo:~/repo', spec({ local_path: '~/src/repo', path: '~/repo' })],
  ['an https URL', 'https://github.com/dstackai/dstack', spec({ url: 'https://github.com/dstackai/dstack' })],
  ['an https URL with a path', 'https://github.com/dstackai/dstack:/repo', spec({ url: 'https://github.com/dstackai/dstack', path: '/repo' })],
  ['an scp-form URL', 'git@github.com:dstackai/dstack.git', spec({ url: 'git@github.com:dstackai/dstack.git' })],
  ['an scp-form URL with a path', 'git@github.com:dstackai/dstack.git:/repo', spec({ url: 'git@github.com:dstackai/dstack.git', path: '/repo' })],
  ['a URL with a port after the host', 'https://git.example.com:8443/org/repo.git:/repo', spec({ url: 'https://git.example.com:8443/org/repo.git', path: '/repo' })],
  ['an ssh URL with a port', 'ssh://git@host:2222/org/repo', spec({ url: 'ssh://git@host:2222/org/repo' })],
  ['a Windows drive path', 'C:\\Users\\me\\repo', spec({ local_path: 'C:\\Users\\me\\repo' })],
  ['a Windows drive path with a container path', 'c:/src/repo:/repo', spec({ local_path: 'c:/src/repo', path: '/repo' })],
  ['object: a URL with branch and hash', { url: 'https://h/r', branch: 'main', hash: 'abc123' }, spec({ url: 'https://h/r', branch: 'main', hash: 'abc123' })],
  ['object: a local path with path and if_exists', { local_path: '.', path: '/r', if_exists: 'skip' }, spec({ local_path: '.', path: '/r', if_exists: 'skip' })],
  ['object: null counts as unset', { local_path: null, url: 'u', branch: null, hash: null }, spec({ url: 'u' })],
  ['object: an empty string counts as unset', { local_path: '', url: 'u' }, spec({ url: 'u' })],
  ['object: a numeric branch becomes text', { url: 'u', branch: 1 }, spec({ url: 'u', branch: '1' })]
]

for (const [rule, input, expected] of VALID) {
  test(`repos: ${rule}`, () => assert.equal(parseRepoSpec(input), expected))
}

const INVALID: Array<[string, unknown, RegExp, Array<string | number>]> = [
  ['more than 2 parts', 'a:b:c', /^Invalid repo: "a:b:c"/, []],
  ['a URL with 2 more parts', 'https://h/r:/a:/b', /^Invalid repo/, []],
  ['an empty string', '', /^Invalid repo: "" has no local path or URL/, []],
  ['an empty source', ':/repo', /^Invalid repo/, []],
  ['an empty container path', 'repo:', /expected a path in the container/, []],
  ['~user in the container path', '.:~bob/repo', /`~username` syntax is not supported/, []],
  ['~user in the local path', '~bob/repo', /`~username` syntax is not supported/, []],
  ['object: local_path and url together', { local_path: '.', url: 'u' }, /`local_path` and `url` are mutually exclusive/, ['url']],
  ['object: neither local_path nor url', { branch: 'main' }, /Either `local_path` or `url` must be specified/, []],
  ['object: both null', { local_path: null, url: null }, /Either `local_path` or `url` must be specified/, []],
  ['object: a bad if_exists', { url: 'u', if_exists: 'overwrite' }, /expected one of "error", "skip", got "overwrite"/, ['if_exists']],
  ['object: null if_exists', { url: 'u', if_exists: null }, /expected one of/, ['if_exists']],
  ['object: null path', { url: 'u', path: null }, /expected a path in the container, got null/, ['path']],
  ['object: an unknown key', { url: 'u', ref: 'main' }, /unknown field "ref"/, ['ref']],
  ['object: ~user path', { url: 'u', path: '~bob' }, /`~username`/, ['path']],
  ['object: a list url', { url: ['u'] }, /expected a Git URL/, ['url']],
  ['a number', 5, /expected "local_path_or_url\[:path\]"/, []],
  ['null', null, /got null/, []]
]

for (const [rule, input, message, path] of INVALID) {
  test(`repos: ${rule} is an error`, () => fails(() => parseRepoSpec(input), message, path))
}

test('resolveRepoLocalPath: relative to the configuration directory, ~ to home', () => {
  assert.is(resolveRepoLocalPath(spec({ local_path: '.' }), '/proj/cfg').local_path, '/proj/cfg')
  assert.is(resolveRepoLocalPath(spec({ local_path: '../repo' }), '/proj/cfg').local_path, '/proj/repo')
  assert.is(resolveRepoLocalPath(spec({ local_path: '/abs//x/' }), '/proj').local_path, '/abs/x')
  assert.is(resolveRepoLocalPath(spec({ local_path: '~/src/r' }), '/proj').local_path, `${homedir()}/src/r`)
  assert.is(resolveRepoLocalPath(spec({ local_path: '~' }), '/proj').local_path, homedir())
  assert.is(resolveRepoLocalPath(spec({ local_path: 'C:\\r' }), '/proj').local_path, 'C:\\r')
  const remote = spec({ url: 'u', path: 'rel' })
  assert.equal(resolveRepoLocalPath(remote, '/proj'), remote)
  // Other fields are kept.
  assert.equal(resolveRepoLocalPath(spec({ local_path: 'r', branch: 'b', path: 'p', if_exists: 'skip' }), '/d'),
    spec({ local_path: '/d/r', branch: 'b', path: 'p', if_exists: 'skip' }))
})

// Fuzz: random strings over a small alphabet and random nested values. (No null-prototype
// mappings: show() in errors.ts cannot print one that holds a BigInt; YAML gives neither.)
const ALPHABET = [...':/.@*0123456789ab~=${} \\C']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 20 })
const key = fc.oneof(fc.constantFrom('local_path', 'url', 'branch', 'hash', 'path', 'if_exists'), str)
const { value } = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    str, fc.constantFrom('error', 'skip'), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt(),
    fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }))
}))

test('repos fuzz: only ConfigError, and a normalized spec parses to itself', () => {
  let valid = 0
  fc.assert(fc.property(fc.oneof(str, value), v => {
    const out = orConfigError(() => parseRepoSpec(v))
    if (out === undefined) return
    valid++
    assert.equal(parseRepoSpec(out), out)
    assert.ok((out.local_path === null) !== (out.url === null))
    const resolved = orConfigError(() => resolveRepoLocalPath(out, '/cfg'))
    assert.ok(resolved)
  }), { numRuns: 4000 })
  assert.ok(valid > 100)
})

test.run()
