// The leader's loop: after every change (and once a second for timers) it places waiting jobs,
// records why others wait or cannot ever fit, and resubmits runs whose retry back-off is over.
// One pass at a time, so no decision is proposed twice.
import { randomUUID } from 'node:crypto'
import { isFinal, latest } from '../state/lifecycle.ts'
import type { Command } from '../state/machine.ts'
import type { StateStore } from '../state/store.ts'
import type { State } from '../state/types.ts'
import { schedule } from './index.ts'

export interface Controller { close (): void }

/** The commands one pass proposes, given the state and the time. */
export function plan (state: State, now: number): Command[] {
  const commands: Command[] = []
  for (const d of schedule(state)) {
    if (d.kind === 'assign') commands.push({ type: 'job.assign', at: now, job_id: d.job.id, submission_id: d.submission_id, placement: d.placement })
    else if (d.kind === 'wait') commands.push({ type: 'job.wait', at: now, job_id: d.job.id, submission_id: d.submission_id, reason: d.reason })
    else commands.push({ type: 'job.status', at: now, job_id: d.job.id, submission_id: d.submission_id, status: 'failed', reason: 'failed_to_start_due_to_no_capacity', message: d.message })
  }
  for (const run of Object.values(state.runs)) {
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
    commands.push({ type: 'run.resubmit', at: now, run_id: run.id, submissions })
  }
  return commands
}

export function startController (store: StateStore, log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void): Controller {
  let running = false
  let again = false
  let closed = false

  async function pass (): Promise<void> {
    if (running) { again = true; return }
    running = true
    try {
      do {
        again = false
        for (const cmd of plan(store.state, Date.now())) {
          if (closed) return
          const res = await store.propose(cmd)
          if (!res.ok && res.code !== 'stale') log('warn', 'scheduler command refused', { command: cmd.type, reason: res.message })
        }
      } while (again && !closed)
    } catch (err) {
      log('error', 'scheduler pass failed', { error: String(err) })
    } finally {
      running = false
    }
  }

  // Changes made by this loop also trigger it; `again` folds them into the running pass.
  const unsubscribe = store.subscribe(cmd => {
    if (cmd.type === 'job.wait' || cmd.type === 'job.assign') return
    void pass()
  })
  const timer = setInterval(() => { void pass() }, 1000)
  timer.unref()
  void pass()
  return {
    close () {
      closed = true
      clearInterval(timer)
      unsubscribe()
    }
  }
}
