// Ports are a host resource. A job run as a process of its host binds its ports on the host
// itself, so two jobs that need the same port cannot share a host: the second would die with
// "Address already in use". A feasibility check of the pipeline: the instances where one of a
// job's ports is held are out for it, and a job that only such instances could hold waits, saying
// which port and who holds it. A job in a container maps its ports to free ones of the host, so
// it holds none of the host's.
import { needsContainer } from '../config/index.ts'
import { activeJobs } from '../state/active.ts'
import type { Job, Run, State } from '../state/types.ts'

/** The host ports a job binds: its configuration's `ports` and a service's `port`, container side. */
export function portsOf (run: Run, job: Job): number[] {
  const c = run.spec.configuration
  // A container's ports are published on free ports of 127.0.0.1 (agent/container.ts).
  if (needsContainer(c)) return []
  const ports = job.spec.ports.map(p => p.container_port)
  if (c.type === 'service') ports.push(c.port.container_port)
  return ports
}

/** Which instance holds which port, by whom: instances are known by their position in the pool. */
export interface PortBook {
  /** The instances where one of `ports` is held; null when none is (or `ports` is empty). */
  blocked (ports: readonly number[]): Set<number> | null
  /** Why a job needing `ports` cannot go on instance `k`, or null when it can. */
  conflict (k: number, ports: readonly number[]): string | null
  /** `holder` (a job's name) now holds `ports` on instance `k`. */
  take (k: number, ports: readonly number[], holder: string): void
  /** Gives back what `take` took. */
  give (k: number, ports: readonly number[]): void
}

/** The ports that active jobs hold on each instance of `index` (instance id → position). */
export function portBook (state: State, index: ReadonlyMap<string, number>, names: (k: number) => string): PortBook {
  // port → instance position → the job that holds it there
  const held = new Map<number, Map<number, string>>()
  const book: PortBook = {
    blocked (ports) {
      let out: Set<number> | null = null
      for (const p of ports) {
        const on = held.get(p)
        if (on === undefined) continue
        out ??= new Set()
        for (const k of on.keys()) out.add(k)
      }
      return out
    },
    conflict (k, ports) {
      for (const p of ports) {
        const holder = held.get(p)?.get(k)
        if (holder !== undefined) return `waiting for port ${p}: in use on ${names(k)} by ${holder}`
      }
      return null
    },
    take (k, ports, holder) {
      for (const p of ports) {
        let on = held.get(p)
        if (on === undefined) { on = new Map(); held.set(p, on) }
        on.set(k, holder)
      }
    },
    give (k, ports) {
      for (const p of ports) held.get(p)?.delete(k)
    }
  }
  for (const { job, sub } of activeJobs(state)) {
    const k = index.get(sub.placement!.instance)
    const run = state.runs[job.run_id]
    if (k === undefined || run === undefined) continue
    const ports = portsOf(run, job)
    if (ports.length > 0) book.take(k, ports, job.spec.job_name)
  }
  return book
}
