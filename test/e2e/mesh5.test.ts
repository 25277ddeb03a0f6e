// Five real dstackd processes: five voters chosen by the autopilot, and kill -9 of the leader
// mid-run with a job on another host — a new leader, the run completes, nothing repeated.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, psJson, runNamed, writeConfig } from './harness.ts'
import { leaderOf, startCluster, type Host } from './cluster.ts'
import { waitFor } from '../poll.ts'

let hosts: Host[] = []
let work: string

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-mesh5-'))
  hosts = await startCluster(5, { h5: { gpus: [{ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index: 0 }] } })
})

test.after(async () => {
  for (const h of hosts) await h.cleanup().catch(() => undefined)
  await rm(work, { recursive: true, force: true })
})

test('five hosts vote; the leader killed mid-run: a new leader among four, the run done once', async () => {
  const all = await Promise.all(hosts.map(h => h.status()))
  for (const s of all) assert.is(s.voters.length, 5)
  const leader = await leaderOf(hosts)
  assert.is.not(leader.name, 'h5')
  const file = await writeConfig(work, 'five.dstack.yml', 'type: task\nname: five\ncommands:\n  - for i in 1 2 3 4 5; do echo "tick $i"; sleep 1; done\nresources:\n  gpu: L4\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  const via = hosts.find(h => h !== leader && h.name !== 'h5')!
  assert.is((await dstack(via, ['apply', '-f', file, '-y', '-d'])).code, 0)
  await waitFor(async () => (await runNamed(via, 'five'))?.status === 'running', { what: 'five to run' })
  await leader.kill9()
  const next = await leaderOf(hosts.filter(h => h !== leader))
  assert.is.not(next, leader)
  const run = await waitFor(async () => { const r = await runNamed(via, 'five'); return r?.status === 'done' ? r : null }, { what: 'five to be done', timeout: 60_000 })
  assert.is(run.jobs[0].instance, 'h5')
  assert.is(run.jobs[0].submission_num, 0)
  const logs = await dstack(next, ['logs', 'five'])
  for (let i = 1; i <= 5; i++) assert.is(logs.stdout.match(new RegExp(`tick ${i}\\b`, 'g'))?.length, 1)
  // Writes go on with four of five.
  const more = await writeConfig(work, 'more.dstack.yml', 'type: task\nname: more\ncommands:\n  - echo more-marker\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  const r = await dstack(via, ['apply', '-f', more, '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /more-marker/)
  assert.ok((await psJson(next)).runs.some(x => x.name === 'more' && x.status === 'done'))
})

test.run()
