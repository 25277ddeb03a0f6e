// Every configuration in dstack's own repository (test/fixtures/dstack-repo: the .dstack.yml
// files, and each configuration block of the docs, the blog and the examples' markdown; its
// README says from which commit) judged as dstack judges it. dstack's verdict on each file
// comes from its own pydantic models (test/fixtures/dstack-repo/dstack-judge.py): 283 accepted,
// 11 rejected, each rejection listed below with why. Then the product's judgement
// (parseRunConfiguration, which `dstack validate`, `dstack apply` and the daemon share) either
// runs a file or names each part this version does not run, and `dstack validate` says the same.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, formatPath, parseConfiguration, parseRunConfiguration, type ConfigIssue } from '../../../daemon/config/index.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const DIR = join(ROOT, 'test/fixtures/dstack-repo')

function walk (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : /\.dstack\.ya?ml$/.test(name) ? [relative(DIR, path)] : []
  }).sort()
}

const FILES = walk(DIR)
const text = (f: string): string => readFileSync(join(DIR, f), 'utf8')

function issuesOf (fn: () => unknown): ConfigIssue[] {
  try { fn() } catch (err) {
    if (err instanceof ConfigError) return err.issues
    throw err
  }
  return []
}

/** dstack rejects these: [why, an issue we give (path as formatPath writes it, message)]. */
const REJECTED: Record<string, [string, string, RegExp]> = {
  'mkdocs/blog/posts/pd-disaggregation.1.dstack.yml': ['a service-level `router`: dropped with gateway-based routers (dstack #4097); the post predates it', 'router', /unknown field "router"/],
  'mkdocs/blog/posts/pd-disaggregation.2.dstack.yml': ['a gateway with `backends` and a `router`: dropped in dstack #4097', 'router', /unknown field "router"/],
  'mkdocs/blog/posts/sglang-router.4.dstack.yml': ['a gateway `router`: dropped in dstack #4097', 'router', /unknown field "router"/],
  'mkdocs/docs/concepts/backends.2.dstack.yml': ['a fragment showing only `availability_zones`', 'commands', /Either `commands` or `image` must be set/],
  'mkdocs/docs/concepts/secrets.1.dstack.yml': ['a fragment: no `port`, and `commands: ...` as a placeholder', 'port', /is required/],
  'mkdocs/docs/concepts/secrets.2.dstack.yml': ['a fragment showing only `registry_auth`: no `port`', 'port', /is required/],
  'mkdocs/docs/concepts/volumes.8.dstack.yml': ['a fragment showing only `volumes`', 'commands', /Either `commands` or `image` must be set/],
  'mkdocs/docs/concepts/volumes.9.dstack.yml': ['a fragment showing only `volumes`', 'commands', /Either `commands` or `image` must be set/],
  'mkdocs/docs/concepts/volumes.10.dstack.yml': ['a fragment showing only `volumes`', 'commands', /Either `commands` or `image` must be set/],
  'mkdocs/docs/guides/migration/slurm.4.dstack.yml': ['a docs bug: `gpu` and `shm_size` are not indented under `resources`, which is then null', 'resources', /not null/],
  'mkdocs/docs/guides/migration/slurm.5.dstack.yml': ['a docs bug: `gpu` and `shm_size` are not indented under `resources`, which is then null', 'resources', /not null/]
}

/** dstack accepts these; their type needs what this version does not have, and says so. */
const NOT_SUPPORTED: Record<string, string> = {
  'mkdocs/blog/posts/presets.1.dstack.yml': 'an agent preset needs dstack\'s external agent',
  'mkdocs/blog/posts/presets.2.dstack.yml': 'an agent preset needs dstack\'s external agent',
  'mkdocs/docs/concepts/presets.1.dstack.yml': 'an agent preset needs dstack\'s external agent'
}

const files = suite('dstack repository: every configuration')

files('the fixture holds the repository\'s configurations, from one commit', () => {
  assert.match(readFileSync(join(DIR, 'COMMIT'), 'utf8'), /^[0-9a-f]{40}\n$/)
  assert.is(FILES.length, 294)
  assert.ok(FILES.includes('examples/.dstack.yml') && FILES.some(f => f.startsWith('examples/llms/')) && FILES.some(f => f.startsWith('mkdocs/blog/')))
  for (const f of [...Object.keys(REJECTED), ...Object.keys(NOT_SUPPORTED)]) assert.ok(FILES.includes(f), `${f} is listed but not in the fixture`)
})

for (const f of FILES) {
  files(f, () => {
    const issues = issuesOf(() => parseConfiguration(text(f), { file: f }))
    const rejected = REJECTED[f]
    if (rejected) {
      const [why, path, message] = rejected
      assert.ok(issues.some(i => formatPath(i.path) === path && message.test(i.message)), `dstack rejects it (${why}); we gave ${JSON.stringify(issues)}`)
    } else if (NOT_SUPPORTED[f]) {
      assert.ok(issues.some(i => formatPath(i.path) === 'type' && /not supported/.test(i.message)), `${NOT_SUPPORTED[f]}; we gave ${JSON.stringify(issues)}`)
    } else {
      assert.equal(issues, [], 'dstack accepts it')
      // What we normalized reads back unchanged.
      const once = parseConfiguration(text(f))
      assert.equal(parseConfiguration(JSON.parse(JSON.stringify(once))), once)
    }
  })
}

// -- what this version runs ---------------------------------------------------------------------

const run = suite('dstack repository: what this version runs (parseRunConfiguration)')

interface Verdict { runs: boolean, issues: ConfigIssue[] }
const VERDICTS = new Map<string, Verdict>()
for (const f of FILES) {
  if (REJECTED[f] || NOT_SUPPORTED[f]) continue
  const issues = issuesOf(() => parseRunConfiguration(text(f), { file: f }))
  VERDICTS.set(f, { runs: issues.length === 0, issues })
}

run('a refusal of a file dstack accepts only ever says what is not supported yet, and why', () => {
  for (const [f, v] of VERDICTS) {
    for (const i of v.issues) assert.match(i.message, /not supported yet/, `${f}: ${i.message}`)
  }
})

run('each refusal has its cause in the file', () => {
  let runs = 0
  for (const [f, v] of VERDICTS) {
    const c = parseConfiguration(text(f)) as any
    const at = (path: string) => v.issues.some(i => formatPath(i.path) === path)
    const raw = text(f)
    assert.is(at('type'), ['fleet', 'volume', 'gateway'].includes(c.type), `${f}: type ${c.type}`)
    if (at('type')) continue
    // Containers run here (the docker runtime): an image is never the cause.
    assert.not.ok(at('image') || at('docker'), `${f}: image ${c.image}, docker ${c.docker}`)
    assert.is(v.issues.some(i => /secrets are not supported yet/.test(i.message)), /\$\{\{\s*secrets\./.test(raw), `${f}: secrets`)
    assert.is(v.issues.some(i => /node's IP address/.test(i.message)), /\$\{\{\s*groups\[/.test(raw), `${f}: node IP references`)
    if (v.runs) runs++
  }
  // dstack's examples are mostly containers, fleets and services on clouds; these run here.
  assert.is(runs, 214)
})

run('`dstack validate` gives each file the same verdict', () => {
  const home = mkdtempSync(join(tmpdir(), 'dstack-files-'))
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'tui/bin.js'), 'validate', '--json', '--no-profile', ...FILES], {
      cwd: DIR, env: { ...process.env, HOME: home, NO_COLOR: '1' }, encoding: 'utf8', maxBuffer: 1 << 26
    })
    assert.is(r.status, 1, r.stderr)
    const results = JSON.parse(r.stdout) as Array<{ file: string, errors?: string[] }>
    assert.equal(results.map(x => x.file), FILES)
    for (const x of results) {
      const v = VERDICTS.get(x.file)
      const accepted = v ? v.runs : false
      assert.is(x.errors === undefined, accepted, `${x.file}: ${x.errors?.join('\n')}`)
      if (v && !v.runs) assert.is(x.errors!.length, v.issues.length, x.file)
    }
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

files.run()
run.run()
