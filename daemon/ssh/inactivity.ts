// A dev environment's `inactivity_duration` (SPEC §5.6): the host that runs the job ends it
// once it has had no SSH session for that long (activity.ts: sessions under 10 s do not count).
// Ending it is a request to terminate with `inactivity_duration_exceeded`, recorded in the
// state as a user's stop is: the agent stops the job and the reason decides its final status.
import { activeJobs } from '../state/active.ts'
import type { Command, ApplyResult } from '../state/machine.ts'
import type { State } from '../state/types.ts'
import type { Activity } from './activity.ts'

export interface InactivityOptions {
  store: { readonly state: State, propose (cmd: Command): Promise<ApplyResult | null | unknown> }
  /** This host's node id: only jobs placed here are judged here. */
  node: string
  activity: Activity
  /** How often jobs are looked at (default 1 s). */
  intervalMs?: number
  now?: () => number
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export interface InactivityWatch {
  /** Looks at every job once now (the timer does this every interval). */
  check (): void
  close (): void
}

export function watchInactivity (opts: InactivityOptions): InactivityWatch {
  const now = opts.now ?? Date.now
  const asked = new Set<string>()
  let known = new Set<string>()
  const check = (): void => {
    const state = opts.store.state
    const live = new Set<string>()
    for (const { job, sub } of activeJobs(state)) {
      if (sub.placement?.node !== opts.node || sub.status !== 'running') continue
      live.add(sub.id)
      const c = state.runs[job.run_id]?.spec.configuration
      const limit = c?.type === 'dev-environment' ? c.inactivity_duration : null
      if (limit === null || limit === undefined || asked.has(sub.id)) continue
      const since = opts.activity.idleSince(sub.id, sub.started_at ?? now())
      if (since === null || now() - since < limit * 1000) continue
      asked.add(sub.id)
      const message = `no SSH connection for ${limit} s (inactivity_duration)`
      opts.log?.('ending an inactive dev environment', { job: job.spec.job_name, submission: sub.id, inactivity_duration: limit })
      Promise.resolve(opts.store.propose({ type: 'job.status', at: now(), job_id: job.id, submission_id: sub.id, status: 'terminating', reason: 'inactivity_duration_exceeded', message }))
        .catch(err => {
          asked.delete(sub.id) // tried again at the next look
          opts.log?.('could not end an inactive dev environment yet', { submission: sub.id, error: (err as Error).message })
        })
    }
    for (const id of known) if (!live.has(id)) { asked.delete(id); opts.activity.forget(id) }
    known = live
  }
  const timer = setInterval(check, opts.intervalMs ?? 1000)
  timer.unref()
  return { check, close: () => clearInterval(timer) }
}
