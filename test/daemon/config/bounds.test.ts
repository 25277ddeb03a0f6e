// Bounded input: a configuration over the size limit is refused before it is parsed, a huge
// value is quoted short in any message, and errors stay linear in the input (32k unknown keys
// finish; how fast is scripts/bench/config.ts's business, not a test's).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  ConfigError, MAX_CONFIGURATION_BYTES, loadYaml, parseConfiguration, parseEnv, parseGpuSpec, parsePortMapping, parseResources,
  parseRunConfiguration, readConfigurationFile
} from '../../../daemon/config/index.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function errorOf (fn: () => unknown, what = ''): ConfigError {
  try { fn() } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error(`expected a ConfigError ${what}`)
}

test('32k unknown keys: every one reported, each at its line, and it finishes', () => {
  const lines = ['type: task', 'commands: [ls]']
  for (let i = 0; i < 32000; i++) lines.push(`key${i}: ${i}`)
  const err = errorOf(() => parseConfiguration(lines.join('\n') + '\n', { file: 'big.dstack.yml' }))
  assert.is(err.issues.length, 32000)
  assert.equal(err.issues[0], { path: ['key0'], key: true, message: 'unknown field "key0"', line: 3, col: 1 })
  assert.is(err.issues[31999]!.line, 32002)
})

test('32k duplicate keys are found in one pass', () => {
  const lines = ['type: task', 'commands: [ls]']
  for (let i = 0; i < 32000; i++) lines.push(`name: n${i}`)
  const err = errorOf(() => loadYaml(lines.join('\n')))
  assert.is(err.issues.length, 31999)
  assert.match(err.issues[0]!.message, /map keys must be unique: "name"/)
})

const BIG = 'x'.repeat(50 * 1024 * 1024)

test('a 50 MB scalar is quoted short, wherever it sits', () => {
  const cases: Array<[string, () => unknown]> = [
    ['type', () => parseConfiguration({ type: BIG })],
    ['name', () => parseConfiguration({ type: 'task', commands: ['ls'], name: BIG })],
    ['an unknown key', () => parseConfiguration({ type: 'task', commands: ['ls'], [BIG]: 1 })],
    ['a nested unknown key', () => parseConfiguration({ type: 'task', commands: ['ls'], resources: { [BIG]: 1 } })],
    ['python', () => parseConfiguration({ type: 'task', commands: ['ls'], python: BIG })],
    ['an env name', () => parseEnv([`${BIG}-=1`])],
    ['gpu', () => parseGpuSpec(`1:2:${BIG}`)],
    ['memory', () => parseResources({ memory: BIG })],
    ['a port', () => parsePortMapping(BIG)],
    ['spot_policy', () => parseRunConfiguration({ type: 'task', commands: ['ls'], spot_policy: BIG })],
    ['ide', () => parseConfiguration({ type: 'dev-environment', ide: BIG })],
    ['a list item', () => parseConfiguration({ type: 'task', commands: [{ a: BIG }] })]
  ]
  for (const [where, fn] of cases) {
    const err = errorOf(fn, where)
    assert.ok(err.message.length < 1000, `${where}: a ${err.message.length}-character message: ${err.message.slice(0, 300)}`)
    for (const i of err.issues) assert.ok(i.message.length < 600, `${where}: ${i.message.slice(0, 300)}`)
  }
})

test('a configuration over the limit is refused before it is parsed', () => {
  const text = `type: task\ncommands: [ls]\nname: ${'a'.repeat(MAX_CONFIGURATION_BYTES)}\n`
  const err = errorOf(() => parseConfiguration(text, { file: 'big.dstack.yml' }))
  assert.match(err.message, /^big\.dstack\.yml: the configuration is too large: 1\.0 MB, and a configuration may be at most 1 MB$/)
  // Multi-byte characters count as bytes, as on disk.
  errorOf(() => loadYaml(`a: ${'é'.repeat(MAX_CONFIGURATION_BYTES / 2 + 1)}`))
  assert.is((loadYaml(`a: ${'b'.repeat(MAX_CONFIGURATION_BYTES - 3)}`).value as any).a.length, MAX_CONFIGURATION_BYTES - 3)
})

test('files and standard input are read only up to the limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-bounds-'))
  try {
    const file = join(dir, 'big.dstack.yml')
    writeFileSync(file, 'type: task\n' + '#'.repeat(50 * 1024 * 1024))
    assert.match(errorOf(() => readConfigurationFile(file)).message, /big\.dstack\.yml: the configuration is too large: 50\.0 MB/)
    writeFileSync(file, 'type: task\ncommands: [ls]\n')
    assert.is(readConfigurationFile(file), 'type: task\ncommands: [ls]\n')
    // A stream has no size to look at: it is cut at the limit.
    const r = spawnSync(process.execPath, [join(ROOT, 'tui/bin.js'), 'validate', '--no-profile', '-'], {
      input: 'type: task\ncommands: [ls]\n' + '#'.repeat(3 * 1024 * 1024), env: { ...process.env, HOME: dir, NO_COLOR: '1' }, encoding: 'utf8'
    })
    assert.is(r.status, 1)
    assert.match(r.stderr, /<stdin>: the configuration is too large: over 1 MB, and a configuration may be at most 1 MB/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
