// Partitions with network namespaces: three dstackd hosts, each in a namespace of its own on a
// bridge this test makes (10.78.0.0/24). One host is cut off: the minority side cannot change
// anything (apply says why), the majority goes on scheduling, the job on the cut-off host keeps
// running; when the link comes back there is one history and nothing ran twice.
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, psJson, runNamed, writeConfig } from './harness.ts'
import { leaderOf, startCluster, type Host } from './cluster.ts'
import { lan, netnsMissing } from './netns.ts'
import { waitFor } from '../poll.ts'
import { suiteNeeding } from '../skip.ts'

const test = suiteNeeding(import.meta.url, 'root and iproute2', netnsMissing())

const net = lan(78, 3)

let hosts: Host[] = []
let work: string

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-partition-'))
  net.setup()
  const where = Object.fromEntries(['h1', 'h2', 'h3'].map((n, i) => [n, net.where(i + 1)]))
  hosts = await startCluster(3, { h3: { gpus: [{ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index: 0 }] } }, where)
})

test.after(async () => {
  net.heal(3)
  for (const h of hosts) await h.cleanup().catch(() => undefined)
  net.teardown()
  await rm(work, { recursive: true, force: true })
})

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

test('a cut-off host: the minority cannot schedule, the majority goes on, the heal leaves one history', async () => {
  const [h1, h2, h3] = hosts as [Host, Host, Host]
  assert.is((await leaderOf(hosts)).name, 'h1', 'the founder leads')
  assert.equal((await h3.status()).voters.length, 3)

  // A job on h3 (the only L4) that outlives the partition.
  const long = await writeConfig(work, 'cut.dstack.yml', 'type: task\nname: cut\ncommands:\n  - for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 1; done\nresources:\n  gpu: L4\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  assert.is((await dstack(h1, ['apply', '-f', long, '-y', '-d'])).code, 0)
  await waitFor(async () => (await runNamed(h1, 'cut'))?.status === 'running', { what: 'cut to run' })

  net.cut(3)

  // The minority side notices within an election timeout that it hears no leader…
  await waitFor(async () => (await h3.status()).leader === null, { what: 'h3 to lose its leader' })
  // …and so takes nothing new; the client says why.
  const other = await writeConfig(work, 'minority.dstack.yml', `type: task\nname: minority\ncommands:\n  - echo never\n${SMALL}`)
  const refused = await dstack(h3, ['apply', '-f', other, '-y', '-d'])
  assert.is.not(refused.code, 0)
  assert.match(refused.stderr, /no leader|majority/, `stderr: ${refused.stderr} stdout: ${refused.stdout}`)
  assert.is.not((await h3.status()).role, 'leader')

  // The majority side: the same leader, new work runs, h3 is seen as unreachable.
  assert.is((await leaderOf([h1, h2])).name, 'h1')
  const majority = await writeConfig(work, 'majority.dstack.yml', `type: task\nname: majority\ncommands:\n  - echo majority-marker\n${SMALL}`)
  const ran = await dstack(h2, ['apply', '-f', majority, '-y'])
  assert.is(ran.code, 0, ran.stderr)
  assert.match(ran.stdout, /majority-marker/)
  await waitFor(async () => {
    const r = await dstack(h1, ['fleet', '--json'])
    const fleets = JSON.parse(r.stdout)
    return (fleets.fleets ?? fleets).flatMap((f: any) => f.instances).find((i: any) => i.name === 'h3' && i.unreachable)
  }, { what: 'h3 to be unreachable on the majority side' })
  // What h3 runs keeps its status there: running, not failed or retried.
  assert.is((await runNamed(h1, 'cut'))!.jobs[0].status, 'running')
  // The job ends while cut off (8 s); its report waits.
  await waitFor(async () => (await dstack(h3, ['logs', 'cut'])).stdout.includes('tick 8'), { what: 'cut to finish on h3' })
  assert.is((await runNamed(h1, 'cut'))!.status, 'running', 'the majority has not heard yet')

  net.heal(3)

  const done = await waitFor(async () => { const r = await runNamed(h1, 'cut'); return r?.status === 'done' ? r : null }, { what: 'cut to be done after the heal', timeout: 60_000 })
  assert.is(done.jobs[0].submission_num, 0, 'never resubmitted: it ran once')
  await waitFor(async () => {
    const views = await Promise.all(hosts.map(async h => JSON.stringify((await psJson(h)).runs.map(x => [x.name, x.status, x.jobs.map((j: any) => [j.status, j.submission_num])]).sort())))
    return views.every(v => v === views[0])
  }, { what: 'all three hosts to show one history' })
  const names = (await psJson(h3)).runs.map(r => r.name).sort()
  assert.equal(names, ['cut', 'majority'], 'the minority\'s refused run is nowhere')
  const logs = await dstack(h1, ['logs', 'cut'])
  for (let i = 1; i <= 8; i++) assert.is(logs.stdout.match(new RegExp(`tick ${i}\\b`, 'g'))?.length, 1)
})

test.run()
