// What the dstack command says, against a real dstackd: each message true, each flag checked.
// One daemon with two (declared) L4 GPUs, so offers can be grouped by GPU.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, newHome, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'

let d: Daemon
let work: string

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-cli-'))
  const gpu = (index: number) => ({ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index })
  const inventory = await writeConfig(work, 'inventory.json', JSON.stringify({ gpus: [gpu(0), gpu(1)] }))
  d = await startDaemon({ args: ['--inventory', inventory] })
  const hello = await dstack(d, ['apply', '-f', 'examples/hello/.dstack.yml', '-y'])
  assert.is(hello.code, 0, hello.stderr)
})

test.after(async () => {
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('a workflow whose exact cpu fits a share of the host: the plan shows the offer it then runs on', async () => {
  const dir = join(work, 'wf')
  await mkdir(join(dir, '.dstack'), { recursive: true })
  await writeFile(join(dir, '.dstack', 'workflows.yaml'), 'workflows:\n  - name: one-cpu\n    provider: bash\n    commands: [echo one cpu]\n    resources:\n      cpu: 1\n      memory: 0.25GB\n')
  const r = await dstack(d, ['run', 'one-cpu', '-y', '-d'], { cwd: dir })
  assert.is(r.code, 0, r.stderr)
  assert.not.match(r.stdout, /No offers match/)
  assert.match(r.stdout, /local \(local\)/)
})

test('a wrong token: the daemon refuses it, and every command says so (its first call carries the token)', async () => {
  for (const args of [['ps'], ['apply', '-f', 'examples/hello/.dstack.yml', '-y', '-d'], ['logs', 'hello']]) {
    const r = await dstack(d, [...args, '--token', 'not-the-token'])
    assert.is(r.code, 1, args.join(' '))
    assert.match(r.stderr, `dstack ${args[0]}: the daemon at ${d.dataDir}/api.sock refused the token: pass --token or set DSTACK_TOKEN`)
    assert.not.match(r.stdout, /Project/, 'no plan before the refusal')
  }
})

test('stop of a run that already ended says so, not "Stopped"', async () => {
  const r = await dstack(d, ['stop', 'hello', '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /Run hello already ended \(exited \(0\)\): nothing to stop/)
  assert.not.match(r.stdout, /^Stopped/m)
})

test('a dev environment runs its init commands, then waits and says how to reach it', async () => {
  const file = await writeConfig(work, 'dev.dstack.yml', `type: dev-environment\nname: dev\nide: vscode\ninit:\n  - echo init-ran\n${SMALL}`)
  assert.is((await dstack(d, ['apply', '-f', file, '-y', '-d'])).code, 0)
  const out = await waitFor(async () => {
    const l = await dstack(d, ['logs', 'dev'])
    return l.stdout.includes('dev environment ready') ? l.stdout : null
  }, { what: 'the dev environment to be ready' })
  assert.ok(out.indexOf('init-ran') >= 0 && out.indexOf('init-ran') < out.indexOf('dev environment ready'), out)
  assert.match(out, /`ssh dev` connects to it/)
  assert.not.match(out, /not in this version yet/)
  assert.is((await dstack(d, ['stop', '-x', '-y', 'dev'])).code, 0)
})

test('a missing file is named, never a raw ENOENT', async () => {
  for (const argv of [['apply', '-f', 'missing.dstack.yml', '-y'], ['validate', 'missing.dstack.yml']]) {
    const r = await dstack(d, argv)
    assert.is(r.code, 1)
    assert.match(r.stderr, /missing\.dstack\.yml: no such file or directory/)
    assert.not.match(r.stderr + r.stdout, /ENOENT/)
  }
})

test('a dstack server URL in config.yml gets a hint that this client talks to a dstackd node', async () => {
  const { home, env } = await newHome()
  try {
    await mkdir(join(home, '.dstack'))
    await writeFile(join(home, '.dstack', 'config.yml'), 'projects:\n  - name: main\n    url: http://127.0.0.1:3000\n    token: 1b0e1b45-2f8c-4ab6-8010-a0d1a3e44e0e\n    default: true\n')
    const r = await dstack({ env }, ['ps'])
    assert.is(r.code, 1)
    assert.match(r.stderr, /http:\/\/127\.0\.0\.1:3000 \(from .*config\.yml\) is a dstack server's URL: this client talks to a dstackd node/)
    assert.match(r.stderr, /ssh:\/\//)
    assert.not.match(r.stderr, /1b0e1b45/, 'the token stays out of the message')
  } finally {
    await rm(home, { recursive: true, force: true })
  }
})

test('offer --group-by gpu groups, and gpu,backend adds the backend column', async () => {
  const r = await dstack(d, ['offer', '--group-by', 'gpu'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /#\s+GPU\s+SPOT\s+\$\/GPU\n1\s+L4:\d+GB:2\s+on-demand\s+\$0\n?$/)
  const b = await dstack(d, ['offer', '--group-by', 'gpu,backend'])
  assert.match(b.stdout, /#\s+GPU\s+SPOT\s+\$\/GPU\s+BACKEND\n1\s+L4:\d+GB:2\s+on-demand\s+\$0\s+local/)
  const bad = await dstack(d, ['offer', '--group-by', 'region'])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /--group-by: expected a comma-separated list of gpu, backend, region, count|include gpu/)
})

test('--max-offers abc is an error naming the flag, exit 2, no table', async () => {
  const r = await dstack(d, ['offer', '--max-offers', 'abc'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /dstack offer: --max-offers: expected a whole number, got "abc"/)
  assert.is(r.stdout, '')
  const a = await dstack(d, ['apply', '-f', 'examples/hello/.dstack.yml', '-y', '--max-offers', '-1'])
  assert.is(a.code, 2)
  assert.match(a.stderr, /--max-offers/)
})

test('logs into a pipe: lines end in \\n, not the terminal\'s \\r\\n', async () => {
  const r = await dstack(d, ['logs', 'hello'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /Hello from dstackd on .*\n/)
  assert.not.ok(r.stdout.includes('\r'), JSON.stringify(r.stdout))
})

test.run()
