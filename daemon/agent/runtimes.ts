// This host's runtimes as one: the process runtime always, the docker runtime while an engine
// answers. A job goes to the one its spec names (a ContainerSpec: docker), and every later
// call about it goes where it went; after a restart, `recover` looks in the runtime the job
// would run in first, then in the other, so a job is found wherever it runs.
import type { ExecOptions, ExecSession, JobExit, JobInfo, JobSpec, JobStats, LogChunk, LogsOptions, Runtime, StartHooks } from '../../drivers/runtime/index.ts'

export interface RuntimesOptions {
  process: Runtime
  /** The docker runtime, or null while no engine answers here (with why). */
  docker: () => { runtime: Runtime } | { runtime: null, why: string }
  /** Which runtime a job would run in now, from the state (undefined: not known there). */
  kindOf: (id: string) => 'docker' | 'process' | undefined
}

export interface Runtimes extends Runtime {
  /** Which runtime has job `id`, as far as this host knows. */
  kindOf (id: string): 'docker' | 'process' | undefined
}

export function hostRuntimes (opts: RuntimesOptions): Runtimes {
  const where = new Map<string, 'docker' | 'process'>()
  const docker = (): Runtime => {
    const d = opts.docker()
    if (d.runtime === null) throw new Error(`no container engine: ${d.why}`)
    return d.runtime
  }
  const get = (kind: 'docker' | 'process'): Runtime => kind === 'docker' ? docker() : opts.process
  const kindOf = (id: string): 'docker' | 'process' => where.get(id) ?? opts.kindOf(id) ?? 'process'
  const of = (id: string): Runtime => get(kindOf(id))

  return {
    name: 'host',
    kindOf: id => where.get(id) ?? opts.kindOf(id),
    async start (spec: JobSpec, hooks?: StartHooks): Promise<JobInfo | JobExit> {
      const kind = spec.container ? 'docker' : 'process'
      const started = await get(kind).start(spec, hooks)
      where.set(spec.id, kind)
      return started
    },
    async recover (id: string, dir: string): Promise<JobInfo | JobExit | null> {
      const first = kindOf(id)
      const order: Array<'docker' | 'process'> = first === 'docker' ? ['docker', 'process'] : ['process', 'docker']
      for (const kind of order) {
        let found: JobInfo | JobExit | null
        try {
          found = await get(kind).recover(id, dir)
        } catch (err) {
          // Where the job should be, a failure is the answer (an engine that is down): asking
          // the other runtime about a directory that is not its own could only mislead it.
          if (kind === first) throw err
          continue
        }
        if (found !== null) { where.set(id, kind); return found }
      }
      return null
    },
    wait: (id: string): Promise<JobExit> => of(id).wait(id),
    stop: (id: string, graceMs: number): Promise<void> => of(id).stop(id, graceMs),
    kill: (id: string): Promise<void> => of(id).kill(id),
    logs (id: string, o?: LogsOptions): AsyncIterable<LogChunk> {
      return { [Symbol.asyncIterator]: () => of(id).logs(id, o)[Symbol.asyncIterator]() }
    },
    stats: (id: string): Promise<JobStats | null> => of(id).stats(id),
    async exec (id: string, o: ExecOptions): Promise<ExecSession> {
      const r = of(id)
      if (!r.exec) throw new Error(`the ${r.name} runtime cannot run a command inside a job`)
      return await r.exec(id, o)
    },
    async remove (id: string): Promise<void> {
      await of(id).remove?.(id)
      where.delete(id)
    }
  }
}
