// The mesh, end to end: three real dstackd processes on loopback joined with a token. Hosts
// appear in every node's fleet, writes on a follower are forwarded, jobs run on the host that
// fits, output is relayed from the host that runs it, and kill -9 of the leader mid-run loses
// and repeats nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import net from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, psJson, runNamed, writeConfig } from './harness.ts'
import { dstackd, leaderOf, startCluster, startHost, type Host } from './cluster.ts'
import { waitFor } from '../poll.ts'

let hosts: Host[]
/** Hosts a test adds to the three. */
const added: Host[] = []
let work: string
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'
// h3 says it has an L4: a job that asks for one can only run there.
const L4 = { gpus: [{ vendor: 'nvidia', name: 'NVIDIA L4', memoryMib: 23034, index: 0 }] }

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-mesh-'))
  hosts = await startCluster(3, { h3: L4 })
})

test.after(async () => {
  for (const h of [...hosts ?? [], ...added]) await h.cleanup().catch(() => undefined)
  await rm(work, { recursive: true, force: true })
})

const byName = (name: string) => hosts.find(h => h.name === name)!

async function fleetOn (h: Host): Promise<Array<Record<string, any>>> {
  const r = await dstack(h, ['fleet', '--json'])
  assert.is(r.code, 0, r.stderr)
  const fleets = JSON.parse(r.stdout)
  return (fleets.fleets ?? fleets).flatMap((f: any) => f.instances)
}

test('three hosts: one leader, three voters, every host in every node\'s fleet', async () => {
  const all = await Promise.all(hosts.map(h => h.status()))
  const leader = all.find(s => s.role === 'leader')!
  assert.ok(leader, 'a leader')
  assert.is(all.filter(s => s.role === 'leader').length, 1)
  for (const s of all) {
    assert.is(s.leader, leader.peer_id)
    assert.is(s.voters.length, 3)
  }
  for (const h of hosts) {
    const instances = await waitFor(async () => { const i = await fleetOn(h); return i.length === 3 ? i : null }, { what: `3 instances in ${h.name}'s fleet` })
    assert.equal(instances.map(i => i.name).sort(), ['h1', 'h2', 'h3'])
    assert.is(instances.find(i => i.name === 'h3')!.resources.includes('L4'), true, JSON.stringify(instances))
  }
})

test('apply on a follower: the job runs on the host that fits, and its output comes back through any node', async () => {
  const leader = await leaderOf(hosts)
  const follower = hosts.find(h => h !== leader && h.name !== 'h3')!
  const file = await writeConfig(work, 'gpu.dstack.yml', 'type: task\nname: on-l4\ncommands:\n  - echo "ran on $(cat /proc/sys/kernel/hostname) rank $DSTACK_NODE_RANK"\n  - echo done-marker\nresources:\n  gpu: L4\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  const r = await dstack(follower, ['apply', '-f', file, '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /done-marker/)
  const run = (await psJson(leader)).runs.find(x => x.name === 'on-l4')!
  assert.is(run.status, 'done')
  assert.is(run.jobs[0].instance, 'h3')
  for (const h of hosts) {
    const logs = await dstack(h, ['logs', 'on-l4'])
    assert.is(logs.code, 0, logs.stderr)
    assert.is(logs.stdout.match(/done-marker/g)?.length, 1, `${h.name}: ${logs.stdout}`)
  }
})

test('nodes: 3 runs one job on each host, ranks 0–2, each told every IP and the master', async () => {
  const file = await writeConfig(work, 'multi.dstack.yml', `type: task\nname: multi\nnodes: 3\ncommands:\n  - echo "rank=$DSTACK_NODE_RANK nodes=$DSTACK_NODES_NUM master=$DSTACK_MASTER_NODE_IP ips=$(echo "$DSTACK_NODES_IPS" | wc -l) hostfile=$(wc -l < $DSTACK_MPI_HOSTFILE)"\n${SMALL}`)
  const r = await dstack(hosts[1]!, ['apply', '-f', file, '-y'])
  assert.is(r.code, 0, r.stderr)
  const run = (await psJson(hosts[0]!)).runs.find(x => x.name === 'multi')!
  assert.is(run.status, 'done')
  assert.equal(run.jobs.map((j: any) => j.instance).sort(), ['h1', 'h2', 'h3'], 'three distinct hosts')
  for (const rank of [0, 1, 2]) {
    const logs = await dstack(hosts[2]!, ['logs', 'multi', '--job', String(rank)])
    assert.match(logs.stdout, new RegExp(`rank=${rank} nodes=3 master=\\S+ ips=3 hostfile=3`))
  }
})

test('kill -9 of the leader mid-run: a new leader, the job runs on, the run completes once', async () => {
  const leader = await leaderOf(hosts)
  const l4 = byName('h3')
  const other = hosts.find(h => h !== leader && h !== l4) ?? l4
  // The job runs on h3 (the L4), which must not be the leader we kill.
  if (leader === l4) return assert.unreachable('h3 should not lead in this test (the founder h1 leads)')
  const file = await writeConfig(work, 'long.dstack.yml', `type: task\nname: long\ncommands:\n  - for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 1; done\nresources:\n  gpu: L4\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n`)
  const r = await dstack(other, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await runNamed(other, 'long'))?.status === 'running', { what: 'long to run' })
  const before = await leader.status()
  await leader.kill9()
  const survivors = hosts.filter(h => h !== leader)
  const next = await leaderOf(survivors)
  assert.is.not(next, leader)
  assert.ok((await next.status()).term > before.term, 'a later term')
  const run = await waitFor(async () => { const x = await runNamed(other, 'long'); return x?.status === 'done' ? x : null }, { what: 'long to finish on the new leader', timeout: 60_000 })
  assert.is(run.jobs[0].instance, 'h3')
  const logs = await dstack(other, ['logs', 'long'])
  for (let i = 1; i <= 6; i++) assert.is(logs.stdout.match(new RegExp(`tick ${i}\\b`, 'g'))?.length, 1, `tick ${i} once: ${logs.stdout}`)

  // The old leader comes back as a follower and catches up to the same history.
  await leader.start()
  await waitFor(async () => {
    const views = await Promise.all(hosts.map(async h => JSON.stringify((await psJson(h)).runs.map(x => [x.name, x.status, x.jobs.map((j: any) => j.status)]))))
    return views.every(v => v === views[0])
  }, { what: 'every host to show the same runs' })
  const s = await leader.status()
  assert.is.not(s.role, 'leader')
  assert.is(s.leader, (await next.status()).peer_id)
})

test('a host that stops answering is unreachable, then comes back with its jobs', async () => {
  const leader = await leaderOf(hosts)
  const h = hosts.find(x => x !== leader)!
  const file = await writeConfig(work, 'away.dstack.yml', `type: task\nname: away\nnodes: 3\ncommands:\n  - sleep 4\n  - echo back-marker\n${SMALL}`)
  const r = await dstack(leader, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await runNamed(leader, 'away'))?.jobs.every((j: any) => j.status === 'running'), { what: 'all three jobs of away to run' }).catch(async err => {
    for (const x of hosts) console.error(`--- ${x.name}\n${x.log().split('\n').filter(l => !l.includes('presence')).slice(-12).join('\n')}`)
    console.error(JSON.stringify((await runNamed(leader, 'away'))?.jobs.map((j: any) => [j.status, j.waiting_reason, j.error])))
    throw err
  })
  await h.kill9()
  const gone = await waitFor(async () => (await fleetOn(leader)).find(i => i.name === h.name && i.unreachable), { what: `${h.name} to be unreachable` })
  assert.match(gone.status_text ?? gone.status, /unreachable/)
  // Its job stays as it was: it is still running there, as far as anyone knows.
  const away = (await runNamed(leader, 'away'))!
  assert.is(away.jobs.find((j: any) => j.instance === h.name).status, 'running')
  await h.start()
  await waitFor(async () => (await fleetOn(leader)).find(i => i.name === h.name && !i.unreachable), { what: `${h.name} to be reachable again` })
  const done = await waitFor(async () => { const x = await runNamed(leader, 'away'); return x?.status === 'done' ? x : null }, { what: 'away to finish', timeout: 60_000 }).catch(async err => {
    for (const x of hosts) console.error(`--- ${x.name}\n${x.log().split('\n').filter(l => !l.includes('presence')).slice(-25).join('\n')}`)
    console.error(JSON.stringify((await psJson(leader)).runs.find(r => r.name === 'away'), null, 1))
    throw err
  })
  assert.ok(done.jobs.every((j: any) => j.status === 'done'))
})

test('fleet delete: a host gone for good leaves the mesh, its job ends, and it is never taken back', async () => {
  const leader = await leaderOf(hosts)
  const follower = hosts.find(h => h !== leader)!
  const token = (await dstackd(['token', '--data-dir', leader.dataDir], leader.env)).stdout.trim()
  const h4 = await startHost('h4', ['--join', token], { gpus: [{ vendor: 'nvidia', name: 'Tesla T4', memoryMib: 15360, index: 0 }] })
  added.push(h4)
  const id4 = (await h4.status()).peer_id
  await waitFor(async () => (await leader.status()).learners.includes(id4), { what: 'h4 to become a member' })
  const file = await writeConfig(work, 't4.dstack.yml', 'type: task\nname: on-t4\ncommands: [sleep 300]\nresources:\n  gpu: T4\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  const r = await dstack(follower, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
  await waitFor(async () => (await runNamed(leader, 'on-t4'))?.jobs[0]?.status === 'running', { what: 'on-t4 to run on h4' })
  await h4.kill9()
  const instances = await fleetOn(follower)
  const num = instances.find(i => i.name === 'h4')!.num

  // What cannot be deleted says why.
  const whole = await dstack(follower, ['fleet', 'delete', 'local', '-y'])
  assert.is.not(whole.code, 0)
  assert.match(whole.stderr, /cannot be deleted whole: delete its hosts with -i NUM/)
  const leading = await dstack(follower, ['fleet', 'delete', 'local', '-i', String(instances.find(i => i.name === leader.name)!.num), '-y'])
  assert.is.not(leading.code, 0)
  assert.match(leading.stderr, /leads the mesh now: stop dstackd there first/)
  const nothing = await dstack(follower, ['fleet', 'delete', 'local', '-i', '99', '-y'])
  assert.match(nothing.stderr, /fleet local has no instance 99/)

  const del = await dstack(follower, ['fleet', 'delete', 'local', '-i', String(num), '-y'])
  assert.is(del.code, 0, del.stderr)
  assert.match(del.stdout, /Deleted h4/)
  const run = (await runNamed(leader, 'on-t4'))!
  assert.is(run.jobs[0].status, 'failed')
  assert.is(run.jobs[0].termination_reason, 'instance_unreachable')
  assert.match(run.jobs[0].error, /instance h4 was deleted from fleet local/)
  for (const h of hosts) await waitFor(async () => !(await fleetOn(h)).some(i => i.name === 'h4'), { what: `h4 gone from ${h.name}'s fleet` })
  await waitFor(async () => { const s = await leader.status(); return !s.learners.includes(id4) && !s.voters.includes(id4) }, { what: 'h4 out of Raft' })

  // It comes back from the dead with the same identity: nobody takes it back.
  await h4.start()
  await new Promise(resolve => setTimeout(resolve, 3000))
  for (const h of hosts) {
    assert.not.ok((await fleetOn(h)).some(i => i.name === 'h4'), `${h.name} lists h4 again`)
    const peer = (await h.status()).peers.find(p => p.id === id4)
    assert.ok(peer === undefined || (peer as any).addresses.length === 0, `${h.name} is connected to h4 again`)
  }
  assert.equal((await leader.status()).voters.length, 3)
  await h4.cleanup()
})

test('garbage on the mesh port and a bad join token: clear errors, the node keeps serving', async () => {
  const h = hosts[0]!
  const s = await h.status()
  const port = Number(/\/tcp\/(\d+)\//.exec(JSON.parse((await dstackd(['status', '--data-dir', h.dataDir, '--json'], h.env)).stdout).addresses[0])![1])
  for (const junk of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(4096, 0xff), Buffer.from('/multistream/1.0.0\n')]) {
    await new Promise<void>(resolve => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.write(junk); setTimeout(() => sock.destroy(), 200) })
      sock.on('close', () => resolve())
      sock.on('error', () => resolve())
    })
  }
  const after = await h.status()
  assert.is(after.peer_id, s.peer_id)
  const bad = await dstackd(['join', 'dstack1.bm90LWEtdG9rZW4', '--data-dir', join(work, 'never')])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /invalid join token/)
  assert.not.match(bad.stderr, /at .*\.ts:\d+/, 'no stack trace')
})

test.run()
