// Properties of the whole language over thousands of random and mutated documents: the parser
// throws nothing but ConfigError, its messages stay short, and normalizing a normalized
// document changes nothing. Each property finishing is the "never hangs" check.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { parse as parseYaml } from 'yaml'
import { ConfigError, parseConfiguration, parseRunConfiguration } from '../../../daemon/config/index.ts'

const SEEDS = [
  'type: task\nname: train\npython: "3.11"\ncommands: [pip install -r req.txt, python train.py]\nports: [6006]\nresources: {gpu: 80GB, disk: 200GB..}',
  'type: task\nnodes: 2\nenv: [NCCL_DEBUG=INFO, HF_TOKEN]\ncommands: [torchrun x.py]\nresources: {gpu: "24GB:1..2", shm_size: 24GB}\nretry: {on_events: [error], duration: 1h}',
  'type: task\nimage: x\ngroups: [{name: master, nodes: 1}, {nodes: 3, commands: [a], resources: {cpu: "arm:8"}}]',
  'type: service\nimage: vllm/vllm-openai\nport: 8000\nmodel: m\nreplicas: 0..4\nscaling: {metric: rps, target: 10}\nrate_limits: [{prefix: /v1, rps: 5, burst: 2}]',
  'type: service\nport: "80:8000"\npython: "3.12"\ngroups: [{replicas: 1..2, scaling: {metric: rps, target: 1}, commands: [a]}, {router: {type: sglang}, commands: [r]}]',
  'type: dev-environment\nide: vscode\nversion: "1.90"\ninit: [pip install x]\ninactivity_duration: 2h\nvolumes: ["data:/data", "/mnt:/mnt"]',
  'type: fleet\nname: my-fleet\nnodes: {min: 0, target: 1, max: 4}\nplacement: cluster\nresources: {gpu: "H100:8"}\nspot_policy: auto\nidle_duration: 1h',
  'type: fleet\nssh_config: {user: ubuntu, identity_file: ~/.ssh/id, port: 2222, hosts: [10.0.0.1, {hostname: 10.0.0.2, blocks: auto}]}\nenv: {A: b}',
  'type: volume\nbackend: aws\nregion: eu-west-1\nsize: 100GB\nauto_cleanup_duration: 1d',
  'type: volume\nbackend: kubernetes\nclaim_name: c\naccess_modes: [ReadWriteMany]',
  'type: gateway\nbackend: gcp\nregion: us-east1\ndomain: example.com\ncertificate: {type: acm, arn: x}'
]

const SEED_VALUES = SEEDS.map(s => parseYaml(s, { version: '1.1' }) as Record<string, unknown>)

const KEYS = ['type', 'name', 'commands', 'resources', 'gpu', 'cpu', 'memory', 'disk', 'nodes', 'groups', 'replicas', 'scaling',
  'port', 'ports', 'env', 'image', 'python', 'docker', 'retry', 'max_duration', 'ssh_config', 'hosts', 'backend', 'region',
  'size', 'probes', 'model', 'volumes', 'repos', 'files', 'schedule', 'blocks', 'count', 'min', 'max', 'spot_policy']

const scalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, 1, -1, 2.5, 3.1, 65536, '', 'off', 'auto', 'yes', '1..', '..', 'A100:2', '24GB..', '1h', '8080', '*:80', 'a:b', '/x', '${{ run.args }}', '${{'),
  fc.integer(), fc.double({ noNaN: false }), fc.string({ maxLength: 12 })
)
const value: fc.Arbitrary<unknown> = fc.letrec(tie => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 3 }))
})).v

/** Walks to a random place in the document and replaces, deletes or adds something there. */
function mutate (doc: unknown, path: number[], op: number, replacement: unknown, key: string): unknown {
  if (path.length === 0 || doc === null || typeof doc !== 'object') {
    if (op === 0) return replacement
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) return { ...doc, [key]: replacement }
    return replacement
  }
  const entries = Array.isArray(doc) ? doc.map((v, i) => [i, v] as const) : Object.entries(doc as Record<string, unknown>)
  if (entries.length === 0) return replacement
  const [k, child] = entries[path[0]! % entries.length]!
  const copy: any = Array.isArray(doc) ? [...doc] : { ...doc }
  if (op === 1 && path.length === 1) {
    if (Array.isArray(copy)) copy.splice(k as number, 1)
    else delete copy[k]
    return copy
  }
  copy[k] = mutate(child, path.slice(1), op, replacement, key)
  return copy
}

function check (input: unknown): void {
  let out: unknown
  try {
    out = parseConfiguration(input)
  } catch (err) {
    if (err instanceof ConfigError) return
    throw err
  }
  const again = parseConfiguration(JSON.parse(JSON.stringify(out)))
  assert.equal(again, out)
}

test('mutated documents: only ConfigError, and normalization is idempotent', () => {
  fc.assert(fc.property(
    fc.nat(SEED_VALUES.length - 1), fc.array(fc.nat(), { minLength: 0, maxLength: 4 }), fc.nat(2), value, fc.constantFrom(...KEYS),
    (seed, path, op, replacement, key) => check(mutate(SEED_VALUES[seed], path, op, replacement, key))
  ), { numRuns: 4000, seed: 20261123 })
})

test('random documents: only ConfigError', () => {
  fc.assert(fc.property(fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }), fc.constantFrom('task', 'service', 'dev-environment', 'fleet', 'volume', 'gateway', undefined),
    (doc, type) => check(type === undefined ? doc : { ...doc, type })
  ), { numRuns: 2000, seed: 7 })
})

test('random YAML text: only ConfigError', () => {
  const text = fc.array(fc.constantFrom('type: task\n', 'commands: [ls]\n', '  - ', ': ', '[', ']', '{', '}', '"', "'", '\n', '  ', '&a ', '*a ', '!!str ', '- x\n', 'resources:\n', '  gpu: ', 'A100', '..', '#'), { maxLength: 30 })
    .map(parts => parts.join(''))
  fc.assert(fc.property(text, t => {
    try {
      parseConfiguration(t, { file: 'f.yml' })
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
    }
  }), { numRuns: 3000, seed: 11 })
})

/** dstack's own configurations (test/fixtures/dstack-repo), the seeds of text mutations. */
const FIXTURES = fileURLToPath(new URL('../../fixtures/dstack-repo/', import.meta.url))
function fixtures (dir: string): string[] {
  return readdirSync(dir).flatMap(n => statSync(join(dir, n)).isDirectory() ? fixtures(join(dir, n)) : /\.dstack\.ya?ml$/.test(n) ? [readFileSync(join(dir, n), 'utf8')] : [])
}
const TEXTS = fixtures(FIXTURES)

/** No message is longer than a long list of choices: values from the input are quoted short. */
const MESSAGE_MAX = 1000

function onlyShortConfigErrors (fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const i of err.issues) assert.ok(i.message.length <= MESSAGE_MAX, `a ${i.message.length}-character message: ${i.message.slice(0, 200)}…`)
  }
}

const TOKENS = ['\n', '  ', ':', ': ', '- ', '[', ']', '{', '}', '"', "'", '#', '&a ', '*a ', '!!str ', '!!python/name:x ', '${{ ', ' }}',
  '${{ secrets.x }}', '${{ groups[0].nodes[0].IP_ADDRESS }}', '.', '..', 'y', '1e5', '-.5', '~', 'null', '0x', '1:30', '\t', '%YAML 1.1\n', '---\n', '...\n',
  'x'.repeat(5000)]

/** Cuts, duplicates or splices text at random places in a real file. */
const mutatedText = fc.tuple(fc.nat(TEXTS.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...TOKENS), fc.nat(40)), { minLength: 1, maxLength: 6 }))
  .map(([i, edits]) => edits.reduce((t, [at, op, token, n]) => {
    const p = t.length === 0 ? 0 : at % t.length
    if (op === 0) return t.slice(0, p) + token + t.slice(p)
    if (op === 1) return t.slice(0, p) + t.slice(p + n)
    if (op === 2) return t.slice(0, p) + t.slice(p, p + n).repeat(3) + t.slice(p + n)
    return t.slice(0, p) + token + t.slice(p + token.length)
  }, TEXTS[i]!))

test('mutated dstack files: only ConfigError, with short messages, from the language and the judgement', () => {
  fc.assert(fc.property(mutatedText, t => {
    onlyShortConfigErrors(() => parseConfiguration(t, { file: 'm.dstack.yml' }))
    onlyShortConfigErrors(() => parseRunConfiguration(t, { file: 'm.dstack.yml' }))
  }), { numRuns: 2000, seed: 20261205 })
})

test('random documents with long keys and values: only ConfigError, with short messages', () => {
  const long = fc.oneof(fc.string({ minLength: 200, maxLength: 3000 }), fc.constantFrom('x'.repeat(10000), 'A100:'.repeat(2000), '${{ secrets.' + 'a'.repeat(5000) + ' }}'))
  const key = fc.oneof(fc.constantFrom(...KEYS), long)
  const doc: fc.Arbitrary<unknown> = fc.letrec(tie => ({
    v: fc.oneof({ depthSize: 'small' }, scalar, long, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 3 }))
  })).v
  fc.assert(fc.property(fc.dictionary(key, doc, { maxKeys: 5 }), fc.constantFrom('task', 'service', 'dev-environment', 'fleet', 'volume', 'gateway', 'preset'), (d, type) => {
    onlyShortConfigErrors(() => parseConfiguration({ ...d, type }))
    onlyShortConfigErrors(() => parseRunConfiguration({ ...d, type }))
  }), { numRuns: 1000, seed: 5 })
})

test('every seed document is valid', () => {
  for (const s of SEEDS) parseConfiguration(s)
})

test.run()
