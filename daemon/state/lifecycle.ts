// The run lifecycle of SPEC §3: how job termination reasons map to statuses and retry events,
// how a run's status follows from its jobs, and the retry back-off. Pure functions.
import type { RetryEvent } from '../config/index.ts'
import {
  FINAL_JOB_STATUSES, type Job, type JobStatus, type JobSubmission, type JobTerminationReason, type Run,
  type RunStatus, type RunTerminationReason
} from './types.ts'

const TERMINATED_REASONS: readonly JobTerminationReason[] = ['terminated_by_user', 'scaled_down', 'terminated_by_server',
  'inactivity_duration_exceeded', 'terminated_due_to_utilization_policy', 'max_duration_exceeded']

/** The final status a job takes for its termination reason (§3.2). */
export function jobStatusFor (reason: JobTerminationReason): JobStatus {
  if (reason === 'done_by_runner') return 'done'
  if (reason === 'aborted_by_user') return 'aborted'
  if (TERMINATED_REASONS.includes(reason)) return 'terminated'
  return 'failed'
}

/** The run's final status and the reason given to its remaining jobs (§3.2). */
export const RUN_REASONS: Record<RunTerminationReason, { status: RunStatus, jobReason: JobTerminationReason, error: string | null }> = {
  all_jobs_done: { status: 'done', jobReason: 'done_by_runner', error: null },
  job_failed: { status: 'failed', jobReason: 'terminated_by_server', error: null },
  retry_limit_exceeded: { status: 'failed', jobReason: 'terminated_by_server', error: 'retry limit exceeded' },
  stopped_by_user: { status: 'terminated', jobReason: 'terminated_by_user', error: null },
  aborted_by_user: { status: 'terminated', jobReason: 'aborted_by_user', error: null },
  server_error: { status: 'failed', jobReason: 'terminated_by_server', error: 'server error' },
  gateway_error: { status: 'failed', jobReason: 'terminated_by_server', error: 'gateway error' }
}

/** The retry event a failure counts as, or null for a reason that is never retried. */
export function retryEventFor (reason: JobTerminationReason | null): RetryEvent | null {
  if (reason === null || jobStatusFor(reason) !== 'failed') return null
  if (reason === 'failed_to_start_due_to_no_capacity') return 'no-capacity'
  if (reason === 'interrupted_by_no_capacity') return 'interruption'
  return 'error'
}

const BACKOFF_SECONDS = [15, 30, 60, 120, 300, 600]

/** The wait before the n-th resubmission (0-based): 15s, 30s, 1m, 2m, 5m, then 10m. */
export function backoffSeconds (n: number): number {
  return BACKOFF_SECONDS[Math.min(n, BACKOFF_SECONDS.length - 1)]!
}

export function isFinal (status: JobStatus): boolean {
  return FINAL_JOB_STATUSES.includes(status)
}

export function latest (job: Job): JobSubmission {
  return job.submissions[job.submissions.length - 1]!
}

/**
 * Seconds a failed job has been retrying, measured against `retry.duration` (§3.4): from the
 * run's submission while it never got an instance, otherwise from the job's first failure —
 * so a job that keeps failing stops being retried once the window closes.
 */
export function retryElapsed (run: Run, job: Job, at: number): number {
  const everPlaced = job.submissions.some(s => s.placement !== null)
  const first = job.submissions[0]!
  const from = everPlaced ? (first.finished_at ?? first.submitted_at) : run.submitted_at
  return Math.max(0, (at - from) / 1000)
}

/** Marks the jobs stopped only so that their replica can be resubmitted whole. */
export const RESUBMIT_MESSAGE = 'Run is to be resubmitted'

/**
 * A job that ended without finishing its work while its run was active: failed, or stopped
 * by the server (max_duration, …). Such a job fails the run unless it is retried.
 */
function endedEarly (sub: JobSubmission): boolean {
  if (sub.status === 'failed') return true
  if (sub.termination_reason_message === RESUBMIT_MESSAGE) return false
  const stopped = sub.status === 'terminated' || sub.status === 'aborted' || sub.status === 'terminating'
  return stopped && sub.termination_reason !== null && sub.termination_reason !== 'done_by_runner' && sub.termination_reason !== 'scaled_down'
}

export type ReplicaVerdict =
  | { kind: 'active', status: 'running' | 'provisioning' | 'submitted' }
  | { kind: 'done' }
  | { kind: 'retry' }
  | { kind: 'failed', reason: 'job_failed' | 'retry_limit_exceeded' }

/** What one replica's jobs say about the run (§3.1, §3.4). */
export function judgeReplica (run: Run, jobs: Job[], at: number): ReplicaVerdict {
  let failed: ReplicaVerdict | null = null
  let retrying = false
  for (const job of jobs) {
    const sub = latest(job)
    if (!endedEarly(sub)) continue
    const event = retryEventFor(sub.termination_reason)
    const retry = job.spec.retry
    if (retry === false || event === null || !retry.on_events.includes(event)) {
      failed ??= { kind: 'failed', reason: 'job_failed' }
    } else if (retryElapsed(run, job, at) > retry.duration) {
      failed ??= { kind: 'failed', reason: 'retry_limit_exceeded' }
    } else {
      retrying = true
    }
  }
  if (failed) return failed
  if (retrying) return { kind: 'retry' }
  const statuses = jobs.map(j => latest(j).status)
  if (statuses.every(s => s === 'done')) return { kind: 'done' }
  if (statuses.includes('running')) return { kind: 'active', status: 'running' }
  if (statuses.some(s => s === 'provisioning' || s === 'pulling')) return { kind: 'active', status: 'provisioning' }
  return { kind: 'active', status: 'submitted' }
}
