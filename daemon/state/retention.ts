// How long finished runs stay in the history. The leader's loop asks `expiredRuns` which runs
// are past the policy at its own clock and proposes `runs.compact` with their ids; the state
// machine drops those that are finished, on every host alike, and each host's agent deletes
// their job directories and logs. The state so holds the unfinished runs plus at most
// `keepRuns` finished ones, and a snapshot is as big as that, whatever the fleet ran before.
import { finishedCount, finishedRuns } from './active.ts'
import type { State } from './types.ts'

export interface Retention {
  /** At most this many finished runs are kept (the oldest go first). */
  keepRuns: number
  /** A finished run goes this many milliseconds after it finished. */
  keepForMs: number
}

/** A busy fleet's defaults: a week, and at most 1,000 finished runs. */
export const DEFAULT_RETENTION: Retention = { keepRuns: 1000, keepForMs: 7 * 24 * 3600 * 1000 }

/** Runs dropped by one command at most: a backlog goes in several small log entries, not one huge one. */
export const COMPACT_BATCH = 500

/** The finished runs past the policy at `now`, oldest first, at most `limit`. */
export function expiredRuns (state: State, now: number, retention: Retention, limit = COMPACT_BATCH): string[] {
  let excess = finishedCount(state) - retention.keepRuns
  const out: string[] = []
  for (const run of finishedRuns(state)) {
    if (out.length >= limit) break
    if (excess <= 0 && (run.finished_at ?? 0) > now - retention.keepForMs) break
    out.push(run.id)
    excess--
  }
  return out
}

/** Checks a policy given on the command line or in options. */
export function retentionProblem (r: Retention): string | null {
  if (!Number.isInteger(r.keepRuns) || r.keepRuns < 0) return `keep-runs must be a whole number ≥ 0, got ${r.keepRuns}`
  if (!Number.isFinite(r.keepForMs) || r.keepForMs < 0) return `keep-for must be a duration ≥ 0, got ${r.keepForMs} ms`
  return null
}
