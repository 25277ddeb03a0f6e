// Several real dstackd processes on loopback forming one mesh: the first founds it, the others
// join with its token (`dstackd token`, `dstackd run --join`), as an operator would.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { apiClient, ROOT, runBin, startDaemon, type Daemon, type Result } from './harness.ts'
import { waitFor } from '../poll.ts'

const DSTACKD = join(ROOT, 'daemon', 'bin.js')

export interface Status {
  peer_id: string
  role: string
  term: number
  leader: string | null
  voters: string[]
  learners: string[]
  applied: number
  peers: Array<{ id: string, name: string | null, alive: boolean }>
}

export interface Host extends Daemon {
  name: string
  status (): Promise<Status>
}

/** Runs `dstackd ARGS` to completion. */
export function dstackd (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return runBin(DSTACKD, args, { env })
}

/** Where a host runs: its mesh address and a command prefix (a network namespace). */
export interface Placement { listen?: string, prefix?: string[] }

/** One host named `name`: `args` are dstackd run's (`--join TOKEN` for all but a founder). */
export async function startHost (name: string, args: string[], inventory?: object, where: Placement = {}): Promise<Host> {
  const extra = [...args]
  let file: string | undefined
  if (inventory) {
    file = join(ROOT, '.scratch', `inventory-${name}-${process.pid}-${Date.now()}.json`)
    await writeFile(file, JSON.stringify(inventory))
    extra.push('--inventory', file)
  }
  const d = await startDaemon({ name, args: extra, ...where })
  return Object.assign(d, {
    name,
    // What `dstackd status --json` prints, asked over the socket (cheaper than a process per poll).
    async status (): Promise<Status> {
      const c = await apiClient(d, 5000)
      try {
        const info = await c.call('server.info')
        return { peer_id: info.node, ...info.cluster }
      } finally {
        await c.close()
      }
    }
  })
}

/**
 * `n` hosts named h1…hn; `inventories[name]` overrides what a host reports, `where[name]` where
 * it runs; `args` go to every host's `dstackd run`.
 */
export async function startCluster (n: number, inventories: Record<string, object> = {}, where: Record<string, Placement> = {}, args: string[] = []): Promise<Host[]> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(ROOT, '.scratch'), { recursive: true })
  const first = await startHost('h1', args, inventories.h1, where.h1)
  const hosts = [first]
  try {
    const t = await dstackd(['token', '--data-dir', first.dataDir], first.env)
    if (t.code !== 0) throw new Error(`dstackd token: ${t.stderr}`)
    const token = t.stdout.trim()
    // Ten at a time: fifty Node processes starting at once on two cores time each other out.
    for (let i = 2; i <= n; i += 10) {
      const batch = Array.from({ length: Math.min(10, n - i + 1) }, (_, k) => `h${i + k}`)
      hosts.push(...await Promise.all(batch.map(name => startHost(name, ['--join', token, ...args], inventories[name], where[name]))))
    }
    await waitFor(async () => {
      const all = await Promise.all(hosts.map(h => h.status()))
      return all.every(s => s.leader !== null && s.leader === all[0]!.leader && s.voters.length === (n >= 5 ? 5 : n >= 3 ? 3 : 1))
    }, { what: `${n} hosts to agree on a leader and their voters`, timeout: 120_000 + 3000 * n })
    return hosts
  } catch (err) {
    await Promise.all(hosts.map(h => h.cleanup().catch(() => undefined)))
    throw err
  }
}

/** The host the others call leader now. */
export async function leaderOf (hosts: Host[]): Promise<Host> {
  return await waitFor(async () => {
    const live = hosts.filter(h => h.process.exitCode === null && h.process.signalCode === null)
    const all = await Promise.all(live.map(h => h.status().catch(() => null)))
    const leader = all.find(s => s?.role === 'leader')
    if (!leader || !all.every(s => s?.leader === leader.peer_id)) return null
    return live[all.indexOf(leader)]
  }, { what: 'one leader that every live host follows' })
}
