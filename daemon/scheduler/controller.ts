// The leader's loop: after every change (and once a second for timers) it places waiting jobs,
// records why others wait or cannot ever fit, and resubmits runs whose retry back-off is over.
// One pass at a time, so no decision is proposed twice; a pass's commands go out together (Raft
// commits them in one batch). Every command carries the term it was planned in: should this
// node lose the leadership mid-pass, its plans are refused when they commit (state/machine.ts).
import { randomUUID } from 'node:crypto'
import { activeRuns } from '../state/active.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { Command } from '../state/machine.ts'
import type { StateStore } from '../state/store.ts'
import { DEFAULT_RETENTION, expiredRuns, type Retention } from '../state/retention.ts'
import type { State } from '../state/types.ts'
import { schedule } from './index.ts'
import { startLeaderLoop } from './loop.ts'

export interface Controller { close (): void }

/** The commands one pass proposes, given the state and the time; finished runs past `retention` are compacted. */
export function plan (state: State, now: number, term?: number, retention: Retention = DEFAULT_RETENTION): Command[] {
  const commands: Command[] = []
  for (const d of schedule(state)) {
    if (d.kind === 'assign') commands.push({ type: 'job.assign', at: now, term, job_id: d.job.id, submission_id: d.submission_id, placement: d.placement })
    else if (d.kind === 'wait') commands.push({ type: 'job.wait', at: now, term, job_id: d.job.id, submission_id: d.submission_id, reason: d.reason })
    else commands.push({ type: 'job.status', at: now, term, job_id: d.job.id, submission_id: d.submission_id, status: 'failed', reason: 'failed_to_start_due_to_no_capacity', message: d.message })
  }
  for (const run of activeRuns(state)) {
    if (run.status !== 'pending' || run.resubmit_at === null || run.resubmit_at > now) continue
    const jobs = run.job_ids.map(id => state.jobs[id]!)
    // The retry unit is the replica: every job of a replica that has wholly stopped, unless it finished its work.
    const replicas = new Set(jobs.map(j => j.spec.replica_num))
    const submissions = []
    for (const r of replicas) {
      const replica = jobs.filter(j => j.spec.replica_num === r)
      if (!replica.every(j => isFinal(latest(j).status)) || replica.every(j => latest(j).status === 'done')) continue
      for (const j of replica) submissions.push({ job_id: j.id, submission_id: randomUUID() })
    }
    commands.push({ type: 'run.resubmit', at: now, term, run_id: run.id, submissions })
  }
  const expired = expiredRuns(state, now, retention)
  if (expired.length > 0) commands.push({ type: 'runs.compact', at: now, term, run_ids: expired })
  return commands
}

/**
 * Runs the loop while `leaderTerm()` gives a term (this node leads); a no-op elsewhere.
 */
export function startController (store: StateStore, leaderTerm: () => number | null, log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void, retention: Retention = DEFAULT_RETENTION): Controller {
  const loop = startLeaderLoop({
    leaderTerm,
    intervalMs: 1000,
    pass: async term => {
      await Promise.all(plan(store.state, Date.now(), term, retention).map(async cmd => {
        const res = await store.propose(cmd)
        if (!res.ok && res.code !== 'stale' && res.code !== 'fenced') log('warn', 'scheduler command refused', { command: cmd.type, reason: res.message })
      }))
    },
    onError: err => log('error', 'scheduler pass failed', { error: String(err) })
  })
  // Changes made by this loop also trigger it; the loop folds them into the running pass.
  const unsubscribe = store.subscribe(cmd => {
    if (cmd !== null && (cmd.type === 'job.wait' || cmd.type === 'job.assign')) return
    loop.trigger()
  })
  return {
    close () {
      loop.close()
      unsubscribe()
    }
  }
}
