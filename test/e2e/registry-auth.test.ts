// registry_auth end to end with a real dstackd and the real CLI: a literal password is nowhere
// in the daemon's data dir (the Raft log, snapshots), its log, the plan, `ps` or `run get`;
// `${{ env.X }}` references are resolved by the client and shown as written.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, runNamed, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'

const PASSWORD = 'e2e-Reg1stry-pw-7QxZ'
let d: Daemon
let work: string

test.before(async () => {
  d = await startDaemon()
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-regauth-'))
})

test.after(async () => {
  await d.cleanup()
  await rm(work, { recursive: true, force: true })
})

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    if (e.isDirectory()) out.push(...await filesUnder(path))
    else if (e.isFile()) out.push(path)
  }
  return out
}

test('a literal password: not in the plan, ps, run get, the daemon\'s log or any file of its data dir', async () => {
  const file = await writeConfig(work, 'lit.dstack.yml', `type: task\nname: regauth-lit\ncommands: [echo ok]\nregistry_auth:\n  username: alice\n  password: ${PASSWORD}\n${SMALL}`)
  const r = await dstack(d, ['apply', '-f', file, '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.not.ok((r.stdout + r.stderr).includes(PASSWORD))
  const get = await dstack(d, ['run', 'get', 'regauth-lit', '--json'])
  assert.is(get.code, 0, get.stderr)
  assert.equal(JSON.parse(get.stdout).configuration.registry_auth, { username: 'alice', password: '***' })
  const ps = await dstack(d, ['ps', '-a', '-v', '--json'])
  assert.not.ok(ps.stdout.includes(PASSWORD))
  assert.not.ok(d.log().includes(PASSWORD), 'the daemon log')
  const secret = Buffer.from(PASSWORD)
  const holding = []
  for (const path of await filesUnder(d.dataDir)) if ((await readFile(path)).includes(secret)) holding.push(path)
  assert.equal(holding, [], 'files of the data dir holding the password')
})

test('${{ env.X }}: resolved by the client from the run\'s env, the references kept as written; one not set is an error naming it', async () => {
  const yaml = `type: task\nname: regauth-env\ncommands: [echo ok]\nenv: [REGISTRY_USERNAME, REGISTRY_PASSWORD]\nregistry_auth:\n  username: \${{ env.REGISTRY_USERNAME }}\n  password: \${{ env.REGISTRY_PASSWORD }}\n${SMALL}`
  const file = await writeConfig(work, 'env.dstack.yml', yaml)
  const r = await dstack(d, ['apply', '-f', file, '-y'], { env: { ...d.env, REGISTRY_USERNAME: 'bob', REGISTRY_PASSWORD: PASSWORD } })
  assert.is(r.code, 0, r.stderr)
  const run = await waitFor(async () => { const x = await runNamed(d, 'regauth-env'); return x?.status === 'done' ? x : null }, { what: 'regauth-env to be done' })
  assert.ok(run)
  const get = await dstack(d, ['run', 'get', 'regauth-env', '--json'])
  assert.equal(JSON.parse(get.stdout).configuration.registry_auth, { username: '${{ env.REGISTRY_USERNAME }}', password: '${{ env.REGISTRY_PASSWORD }}' })
  // Not in the run's env (only the shell has it): nothing resolves it, and the submit says so.
  const notInEnv = await writeConfig(work, 'env2.dstack.yml', yaml.replace('regauth-env', 'regauth-env2').replace('env: [REGISTRY_USERNAME, REGISTRY_PASSWORD]', 'env: [REGISTRY_USERNAME]'))
  const unset = await dstack(d, ['apply', '-f', notInEnv, '-y', '-d'], { env: { ...d.env, REGISTRY_USERNAME: 'bob', REGISTRY_PASSWORD: PASSWORD } })
  assert.is.not(unset.code, 0)
  assert.match(unset.stderr, /registry_auth\.password uses env\.REGISTRY_PASSWORD: the client resolves it from the run's env \(dstack apply\); set REGISTRY_PASSWORD there/)
})

test.run()
