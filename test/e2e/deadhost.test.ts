// Hosts as the scheduler sees them, end to end, on three real dstackd on loopback with a short
// `--unreachable-grace`. Ports: replicas of a service on one port go to distinct hosts, and
// one more than there are hosts waits, saying why in `ps -v`. A host that dies for good: kill -9
// of the leader while its own host runs a job with `retry: {on_events: [error]}`; the new leader
// marks the host unreachable, past the grace fails the job with instance_unreachable, and the
// retry runs elsewhere to `done`. The host restarted is back in the fleet, and the old job,
// still running there, is killed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, jobWritableDir, psJson, runNamed, writeConfig } from './harness.ts'
import { waitFor } from '../poll.ts'
import { leaderOf, startCluster, type Host } from './cluster.ts'

let hosts: Host[]
let work: string
// h1 offers the fewest CPUs: bin-packing puts a job asking for 1 CPU there (the host left
// with the least room), and anywhere else once h1 is gone.
const INVENTORIES = { h1: { cpus: 2 }, h2: { cpus: 8 }, h3: { cpus: 8 } }

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-deadhost-'))
  hosts = await startCluster(3, INVENTORIES, {}, ['--unreachable-grace', '3s'])
})

test.after(async () => {
  for (const h of hosts ?? []) await h.cleanup().catch(() => undefined)
  await rm(work, { recursive: true, force: true })
})

async function fleetOn (h: Host): Promise<Array<Record<string, any>>> {
  const r = await dstack(h, ['fleet', '--json'])
  assert.is(r.code, 0, r.stderr)
  const fleets = JSON.parse(r.stdout)
  return (fleets.fleets ?? fleets).flatMap((f: any) => f.instances)
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}

function dump (): void {
  for (const h of hosts) console.error(`--- ${h.name}\n${h.log().split('\n').filter(l => !l.includes('presence')).slice(-25).join('\n')}`)
}

test('replicas of a service on one port: one per host, and the one too many waits for the port', async () => {
  const h2 = hosts.find(h => h.name === 'h2')!
  // The replicas only pretend to serve: the three hosts share this machine's ports.
  const file = await writeConfig(work, 'svc.dstack.yml', 'type: service\nname: svc\ncommands: [sleep 600]\nport: 18777\nreplicas: 4\nresources:\n  cpu: 1..\n  memory: 0..\n  disk: 0..\n')
  const r = await dstack(h2, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  const run = await waitFor(async () => {
    const x = await runNamed(h2, 'svc')
    return x?.jobs.filter((j: any) => j.status === 'running').length === 3 && x.jobs.some((j: any) => j.waiting_reason) ? x : null
  }, { what: 'three replicas running and one waiting' }).catch(err => { dump(); throw err })
  const placed = run.jobs.filter((j: any) => j.status === 'running').map((j: any) => j.instance).sort()
  assert.equal(placed, ['h1', 'h2', 'h3'], 'one replica per host')
  const waiting = run.jobs.find((j: any) => j.status === 'submitted')
  assert.match(waiting.waiting_reason, /^waiting for port 18777: in use on h\d by svc-0-\d$/)
  const ps = await dstack(h2, ['ps', '-v'])
  assert.match(ps.stdout, /waiting for port 18777: in use on h\d by svc-0-\d/)
  const stop = await dstack(h2, ['stop', 'svc', '-x', '-y'])
  assert.is(stop.code, 0, stop.stderr)
  await waitFor(async () => (await runNamed(h2, 'svc'))?.status === 'terminated', { what: 'svc to end' })
})

test('kill -9 of the leader running a job with retry: the job fails over to another host, and the host back kills the old one', async () => {
  const leader = await leaderOf(hosts)
  if (leader.name !== 'h1') return assert.unreachable(`the founder h1 should lead, not ${leader.name}`)
  const follower = hosts.find(h => h.name === 'h2')!
  // The first attempt keeps running (its pid noted); the retry finds the mark and finishes.
  const shared = await jobWritableDir(work)
  const mark = join(shared, 'mark')
  const pidFile = join(shared, 'first.pid')
  const file = await writeConfig(work, 'failover.dstack.yml', [
    'type: task', 'name: failover',
    'commands:',
    `  - if [ ! -e ${mark} ]; then touch ${mark}; echo $BASHPID > ${pidFile}; exec sleep 600; fi`,
    '  - echo retry-marker',
    'retry:', '  on_events: [error]', '  duration: 1h',
    'resources:', '  cpu: 1..', '  memory: 0..', '  disk: 0..', ''
  ].join('\n'))
  const r = await dstack(follower, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  const running = await waitFor(async () => { const x = await runNamed(follower, 'failover'); return x?.jobs[0]?.status === 'running' ? x : null }, { what: 'failover to run' })
  assert.is(running.jobs[0].instance, 'h1', 'the job runs on the leader\'s own host')
  const pid = Number((await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim(), { what: 'the first attempt\'s pid' })))

  await leader.kill9()
  const survivors = hosts.filter(h => h !== leader)
  await leaderOf(survivors)
  await waitFor(async () => (await fleetOn(follower)).find(i => i.name === 'h1' && i.unreachable), { what: 'h1 to be unreachable' })

  // Past the grace the job fails with instance_unreachable; `ps -v` says why while the run waits to retry.
  const given = await waitFor(async () => { const x = await runNamed(follower, 'failover'); return x?.jobs[0]?.termination_reason === 'instance_unreachable' ? x : null }, { what: 'the job on h1 to be given up', timeout: 60_000 }).catch(err => { dump(); throw err })
  assert.is(given.jobs[0].status, 'failed')
  assert.match(given.jobs[0].error, /instance h1 unreachable for more than 3s: the job was given up/)
  assert.is(given.status, 'pending', 'the run waits out its back-off')
  const ps = await dstack(follower, ['ps', '-v'])
  assert.is(ps.code, 0, ps.stderr)
  assert.match(ps.stdout, /instance h1 unreachable for more than 3s/)
  // h1 keeps its place in the fleet, shown as unreachable; its job still runs there, as nobody could stop it.
  const h1 = (await fleetOn(follower)).find(i => i.name === 'h1')!
  assert.match(h1.status_text, /unreachable/)
  assert.ok(alive(pid), 'the first attempt still runs on the dead host')

  const done = await waitFor(async () => { const x = await runNamed(follower, 'failover'); return x?.status === 'done' ? x : null }, { what: 'failover to be done elsewhere', timeout: 90_000 }).catch(err => { dump(); throw err })
  assert.is.not(done.jobs[0].instance, 'h1')
  assert.is(done.jobs[0].submission_num, 1, 'one retry')
  const logs = await dstack(follower, ['logs', 'failover'])
  assert.is(logs.stdout.match(/retry-marker/g)?.length, 1, logs.stdout)
  // Done, and `ps -v` still says why it ran twice.
  const psDone = await dstack(follower, ['ps', '-v'])
  assert.match(psDone.stdout, /retried after attempt 1 on h1: instance h1 unreachable for more than 3s/)

  // h1 comes back: in the fleet again, reachable, and the old attempt is killed there.
  await leader.start()
  await waitFor(async () => (await fleetOn(follower)).find(i => i.name === 'h1' && !i.unreachable), { what: 'h1 to be reachable again' })
  await waitFor(() => !alive(pid), { what: 'the old attempt on h1 to be killed', timeout: 30_000 }).catch(err => { dump(); throw err })
  assert.match(leader.log(), /stopping a job that ended elsewhere/)
  // Nothing ran twice as far as the state records: the run stays done, the first attempt failed, on every host.
  for (const h of hosts) {
    const run = await waitFor(async () => { const x = (await psJson(h)).runs.find(y => y.name === 'failover'); return x?.status === 'done' ? x : null }, { what: `${h.name} to show failover done` })
    assert.is(run.jobs[0].submission_num, 1)
  }
  const events = await dstack(follower, ['event', '--run', 'failover', '--json'])
  const kinds = JSON.parse(events.stdout).events.map((e: any) => e.message).join('\n')
  assert.match(kinds, /failed \(instance_unreachable: instance h1 unreachable for more than 3s/)
  assert.match(kinds, /resubmitted \(attempt 2\)/)
})

test.run()
