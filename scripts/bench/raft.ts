// Throughput of the core: a 3-node cluster in memory, the Ready contract followed to the letter
// (persist to an in-memory disk, send, apply a hash chain), every message through JSON as on the
// wire. Target: 10,000 entries all at once well under a second.
//   node --import tsx scripts/bench/raft.ts [entries]
import { fileURLToPath } from 'node:url'
import type { Message } from '../../mesh/raft/index.ts'
import { Host } from '../../test/mesh/raft/host.ts'

export interface ThroughputResult {
  entries: number
  /** Proposals made at once, then the cluster run until every node applied them all. */
  ms: number
  messages: number
}

/** Proposes `entries` entries in groups of `batch`, running the cluster between groups, until all three nodes applied everything. */
export function throughput (entries = 10_000, batch = entries): ThroughputResult {
  const ids = ['a', 'b', 'c']
  const hosts = new Map(ids.map((id, k) => [id, new Host(id, { voters: ids, electionTicks: 10, heartbeatTicks: 1, seed: k + 1 })]))
  let messages = 0
  const pump = () => {
    for (;;) {
      const queue: Message[] = []
      for (const h of hosts.values()) if (h.r.hasReady()) queue.push(...h.handleReady())
      if (queue.length === 0) return
      messages += queue.length
      for (const m of queue) hosts.get(m.to)!.r.step(JSON.parse(JSON.stringify(m)) as Message)
    }
  }
  const leader = hosts.get('a')!
  leader.r.campaign()
  pump()
  const start = performance.now()
  const payload = { type: 'job.status', job_id: 'r1-j0', submission_id: 'r1-j0-s0', status: 'running' }
  for (let sent = 0; sent < entries;) {
    for (let k = 0; k < batch && sent < entries; k++, sent++) {
      const r = leader.r.propose({ ...payload, at: sent })
      if (!r.ok) throw new Error(`proposal refused: ${JSON.stringify(r)}`)
    }
    pump()
  }
  const ms = performance.now() - start
  for (const h of hosts.values()) {
    if (h.machine.index !== entries + 1) throw new Error(`${h.id} applied ${h.machine.index} of ${entries + 1}`)
  }
  return { entries, ms, messages }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 10_000)
  throughput(n) // warm-up
  for (const batch of [n, 100, 1]) {
    const r = throughput(n, batch)
    console.log(`${n} entries, proposed ${batch === n ? 'all at once' : `${batch} at a time`}: ${r.ms.toFixed(0)} ms, ${r.messages} messages, ${(n / r.ms * 1000).toFixed(0)} entries/s`)
  }
}
