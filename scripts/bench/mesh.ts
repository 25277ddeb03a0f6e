// Benchmarks of the mesh, against real dstackd processes on loopback:
//   failover            kill -9 of the leader → every survivor follows one new leader (ms)
//   failure detection   kill -9 of a host → the leader's fleet shows it unreachable (ms)
//   e2e jobs/s          trivial tasks submitted through all three hosts, until all are done
//   convergence         with N daemons up, a new host joins: from its `ready` to every node
//                       listing it in its fleet (ms), 5 newcomers one after another; before
//                       them, the idle CPU of the N daemons
// Usage: node --import tsx scripts/bench/mesh.ts [--quick] [--hosts N (default 50)] [--only NAME]
import { readFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import type { ApiClient } from '../../daemon/api/client.ts'
import { parseConfiguration } from '../../daemon/config/index.ts'
import type { RunView } from '../../daemon/api/views.ts'
import { apiClient, sleep, startDaemon, type Daemon } from '../../test/e2e/harness.ts'
import { dstackd, startCluster, type Host } from '../../test/e2e/cluster.ts'
import { waitFor } from '../../test/poll.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const only = flag('--only')
const N = Number(flag('--hosts') ?? (quick ? 10 : 50))
const TRIVIAL = 'type: task\ncommands: [echo hi]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const max = (xs: number[]) => Math.max(...xs)

interface Info { node: string, cluster: { role: string, leader: string | null, term: number } }
const alive = (h: Host) => h.process.exitCode === null && h.process.signalCode === null

/** Polls every live host's `server.info` until all follow one leader; resolves to it. */
async function agreedLeader (hosts: Host[], clients: Map<Host, ApiClient>, timeoutMs = 30_000): Promise<Host> {
  return await waitFor(async () => {
    const live = hosts.filter(alive)
    const infos = await Promise.all(live.map(h => clients.get(h)!.call('server.info').catch(() => null)))
    const i = infos.findIndex(x => x?.cluster.role === 'leader')
    if (i < 0 || !infos.every(x => x?.cluster.leader === infos[i]!.node)) return null
    return live[i]
  }, { what: 'one leader', timeout: timeoutMs })
}

async function reconnect (hosts: Host[], clients: Map<Host, ApiClient>): Promise<void> {
  for (const h of hosts) {
    await clients.get(h)?.close().catch(() => {})
    if (alive(h)) clients.set(h, await apiClient(h, 2000))
  }
}

async function failover (hosts: Host[], clients: Map<Host, ApiClient>, rounds: number): Promise<number[]> {
  const times: number[] = []
  for (let r = 0; r < rounds; r++) {
    const leader = await agreedLeader(hosts, clients)
    await leader.kill9()
    const t0 = Date.now()
    const next = await agreedLeader(hosts, clients)
    times.push(Date.now() - t0)
    if (next === leader) throw new Error('the killed leader still leads')
    await leader.start()
    await reconnect(hosts, clients)
    await agreedLeader(hosts, clients)
    await sleep(1500) // let the restarted host settle back in as a voter
  }
  return times
}

async function detection (hosts: Host[], clients: Map<Host, ApiClient>, rounds: number): Promise<number[]> {
  const times: number[] = []
  for (let r = 0; r < rounds; r++) {
    const leader = await agreedLeader(hosts, clients)
    const victim = hosts.find(h => h !== leader)!
    const name = victim.name
    await victim.kill9()
    const t0 = Date.now()
    await waitFor(async () => {
      const { fleets } = await clients.get(leader)!.call('fleets.list')
      return fleets.flatMap(f => f.instances).some(i => i.name === name && i.unreachable)
    }, { what: `${name} unreachable`, timeout: 30_000 })
    times.push(Date.now() - t0)
    await victim.start()
    await reconnect(hosts, clients)
    await waitFor(async () => {
      const { fleets } = await clients.get(leader)!.call('fleets.list')
      return fleets.flatMap(f => f.instances).every(i => !i.unreachable)
    }, { what: `${name} back`, timeout: 30_000 })
  }
  return times
}

async function throughput (hosts: Host[], clients: Map<Host, ApiClient>, n: number): Promise<number> {
  const configuration = parseConfiguration(TRIVIAL)
  const t0 = Date.now()
  await Promise.all(Array.from({ length: n }, (_, i) => clients.get(hosts[i % hosts.length]!)!.call('runs.submit', { configuration: { ...configuration, name: `tp-${t0}-${i}` }, env: {} })))
  const c = clients.get(hosts[0]!)!
  await waitFor(async () => {
    const { runs } = await c.call('runs.list', { all: true })
    return runs.filter(r => r.name.startsWith(`tp-${t0}-`) && r.status === 'done').length === n
  }, { what: `${n} runs to finish`, timeout: 600_000 })
  return n / ((Date.now() - t0) / 1000)
}

/** CPU seconds a process used so far (utime + stime from /proc; Linux only). */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Share of one core each host used over `ms` of doing nothing, leader first. */
async function idleCpu (hosts: Host[], clients: Map<Host, ApiClient>, ms: number): Promise<{ leader: number, followers: number[] }> {
  const leader = await agreedLeader(hosts, clients)
  const before = await Promise.all(hosts.map(h => cpuSeconds(h.process.pid!)))
  await sleep(ms)
  const after = await Promise.all(hosts.map(h => cpuSeconds(h.process.pid!)))
  const share = hosts.map((_, i) => (after[i]! - before[i]!) / (ms / 1000))
  return { leader: share[hosts.indexOf(leader)]!, followers: share.filter((_, i) => hosts[i] !== leader) }
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

async function convergence (n: number, rounds: number): Promise<{ startMs: number, times: number[] }> {
  const t0 = Date.now()
  const hosts = await startCluster(n)
  const startMs = Date.now() - t0
  const clients = new Map<Host, ApiClient>()
  try {
    for (const h of hosts) clients.set(h, await apiClient(h, 2000))
    await sleep(10_000) // let the joins settle
    const idle = await idleCpu(hosts, clients, 20_000)
    const total = idle.leader + idle.followers.reduce((a, b) => a + b, 0)
    console.log(`idle CPU, ${n} daemons: leader ${pct(idle.leader)} of a core, followers median ${pct(median(idle.followers))} (max ${pct(max(idle.followers))}), all together ${pct(total)}`)
    const t = await dstackd(['token', '--data-dir', hosts[0]!.dataDir], hosts[0]!.env)
    const times: number[] = []
    // Newcomers one after another, each measured against the N (and left running).
    const newcomers: Daemon[] = []
    try {
      for (let r = 0; r < rounds; r++) {
        const name = `newcomer${r + 1}`
        newcomers.push(await startDaemon({ name, args: ['--join', t.stdout.trim()] }))
        const ready = Date.now()
        const seen = new Set<Host>()
        await waitFor(async () => {
          await Promise.all(hosts.filter(h => !seen.has(h)).map(async h => {
            const { fleets } = await clients.get(h)!.call('fleets.list')
            if (fleets.flatMap(f => f.instances).some(i => i.name === name)) seen.add(h)
          }))
          return seen.size === hosts.length
        }, { what: `every node to list ${name}`, timeout: 60_000 }).catch(async err => {
          const missing = hosts.filter(h => !seen.has(h))
          const infos = await Promise.all(missing.map(h => clients.get(h)!.call('server.info').then(i => `${h.name}:${i.cluster.role}@${i.cluster.applied}`, e => `${h.name}:${(e as Error).message.slice(0, 40)}`)))
          throw new Error(`${(err as Error).message}: ${seen.size} of ${hosts.length} list it; missing ${infos.join(' ')}`)
        })
        times.push(Date.now() - ready)
        await sleep(3000)
      }
      return { startMs, times }
    } finally {
      await Promise.all(newcomers.map(h => h.cleanup().catch(() => {})))
    }
  } finally {
    for (const c of clients.values()) await c.close().catch(() => {})
    await Promise.all(hosts.map(h => h.cleanup().catch(() => {})))
  }
}

console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, ${Math.round(totalmem() / 1024 ** 3)} GB, Node ${process.version}`)
if (only === undefined || only !== 'convergence') {
  const hosts = await startCluster(3)
  const clients = new Map<Host, ApiClient>()
  try {
    await reconnect(hosts, clients)
    if (only === undefined || only === 'failover') {
      const f = await failover(hosts, clients, quick ? 2 : 5)
      console.log(`failover after kill -9 of the leader: median ${median(f)} ms, max ${max(f)} ms (${f.join(', ')})   target ≤ 2000 ms`)
    }
    if (only === undefined || only === 'detection') {
      const d = await detection(hosts, clients, quick ? 2 : 3)
      console.log(`failure detection (kill -9 → unreachable): median ${median(d)} ms, max ${max(d)} ms (${d.join(', ')})   target ≤ 5000 ms`)
    }
    if (only === undefined || only === 'throughput') {
      const n = quick ? 60 : 200
      const jps = await throughput(hosts, clients, n)
      console.log(`end to end: ${n} trivial tasks submitted through 3 hosts: ${jps.toFixed(1)} jobs/s`)
    }
  } finally {
    for (const c of clients.values()) await c.close().catch(() => {})
    await Promise.all(hosts.map(h => h.cleanup().catch(() => {})))
  }
}
if (only === undefined || only === 'convergence') {
  const c = await convergence(N, quick ? 1 : 5)
  console.log(`inventory convergence, ${N} daemons: a new host in every node's fleet, from its start: median ${median(c.times)} ms, max ${max(c.times)} ms (${c.times.join(', ')}; the ${N} took ${(c.startMs / 1000).toFixed(1)} s to start)   target ≤ 2000 ms`)
}
