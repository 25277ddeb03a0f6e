// registry_auth through the API: the state (what the Raft log and its snapshots hold) never has
// the password in clear, `run get` and plans show it redacted, and the job spec carries the
// credentials sealed for the host that pulls.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHandlers } from '../../../daemon/api/handlers.ts'
import { sealerOf } from '../../../daemon/agent/registry-auth.ts'
import { openStore } from '../../../daemon/state/store.ts'
import { memoryStorage } from '../../../mesh/raft/storage.ts'
import { memoryNetwork } from '../../../mesh/raft/transport.ts'

const PASSWORD = 'hunter2-Zq9xK'
const dataDir = mkdtempSync(join(tmpdir(), 'dstackd-regauth-'))
const sealer = sealerOf(randomBytes(32))
const store = await openStore({ storage: memoryStorage(), transport: memoryNetwork().transport('n1'), bootstrap: true, tickMs: 10, electionTicks: 5 })
const handlers = createHandlers({
  store, dataDir, node: 'n1', project: 'main', user: 'admin', version: 'test', sealer,
  logs: async function * () {}, cluster: () => { throw new Error('not in this test') }, joinToken: () => 'x'
})
const ctx = { signal: new AbortController().signal, peer: 'test', method: 'test' }
const call = (method: string, params: unknown) => Promise.resolve(handlers[method]!(params, { ...ctx, method })) as Promise<any>
test.after(async () => { await store.close(); rmSync(dataDir, { recursive: true, force: true }) })

const task = (name: string, password: string, username = 'alice') => ({ type: 'task', name, commands: ['true'], registry_auth: { username, password } })
const jobSpecOf = (name: string) => Object.values(store.state.jobs).find(j => store.state.runs[j.run_id]!.name === name)!.spec

test('a literal password: redacted in the stored configuration, run get and the plan; sealed in the job spec', async () => {
  const plan = await call('runs.plan', { configuration: task('lit', PASSWORD) })
  assert.not.ok(JSON.stringify(plan).includes(PASSWORD))
  await call('runs.submit', { configuration: task('lit', PASSWORD), env: {} })
  const got = await call('runs.get', { name: 'lit' })
  assert.equal(got.configuration.registry_auth, { username: 'alice', password: '***' })
  assert.equal(sealer.open(jobSpecOf('lit').registry_auth!), { username: 'alice', password: PASSWORD })
  assert.not.ok(JSON.stringify(store.state).includes(PASSWORD), 'nowhere in the state')
  const again = await call('runs.submit', { configuration: task('lit', PASSWORD), env: {} })
  assert.is(again.action, 'unchanged', 're-applying the same file finds nothing changed')
})

test('env references resolved by the client: the configuration keeps the references, the job gets the values', async () => {
  const refs = task('refs', '${{ env.REGISTRY_PASSWORD }}', '${{ env.REGISTRY_USERNAME }}')
  await call('runs.submit', { configuration: refs, env: {}, registry_auth: { username: 'bob', password: PASSWORD } })
  const got = await call('runs.get', { name: 'refs' })
  assert.equal(got.configuration.registry_auth, { username: '${{ env.REGISTRY_USERNAME }}', password: '${{ env.REGISTRY_PASSWORD }}' })
  assert.equal(sealer.open(jobSpecOf('refs').registry_auth!), { username: 'bob', password: PASSWORD })
  assert.not.ok(JSON.stringify(store.state).includes(PASSWORD))
})

test('references nobody resolved, and secrets (the configuration check refuses them): refused at submit, naming the field', async () => {
  const unresolved = await call('runs.submit', { configuration: task('unres', '${{ env.P }}'), env: {} }).then(() => null, (e: Error) => e.message)
  assert.match(String(unresolved), /registry_auth\.password uses env\.P: the client resolves it/)
  const secret = await call('runs.submit', { configuration: task('sec', '${{ secrets.p }}'), env: {}, registry_auth: { username: 'u', password: '${{ secrets.p }}' } }).then(() => null, (e: Error) => e.message)
  assert.match(String(secret), /registry_auth\.password: \$\{\{ secrets\.p \}\}: secrets are not supported yet/, String(secret))
  assert.is(Object.values(store.state.runs).filter(r => r.name === 'unres' || r.name === 'sec').length, 0)
})

test('no registry_auth: no credentials in the job spec', async () => {
  await call('runs.submit', { configuration: { type: 'task', name: 'plain', commands: ['true'] }, env: {} })
  assert.is(jobSpecOf('plain').registry_auth, undefined)
})

test.run()
