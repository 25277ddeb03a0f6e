// Who is connected to which job, on the host that runs it: every shell, command, sftp and port
// forward into a job (through the SSH gateway, relayed from another node, or `jobs.forward`) is
// a session while it lasts. A dev environment's `inactivity_duration` is measured from here
// (SPEC §5.6: time with no SSH connection, ignoring connections shorter than 10 s).
//
// Kept in memory only: after a restart a job's idle time counts from the restart at worst.

/** A session that ended sooner than this after it opened does not count as activity. */
export const SHORT_SESSION_MS = 10_000

export interface Activity {
  /** Counts a session on job `job` until the returned function is called (calling it again does nothing). */
  open (job: string): () => void
  /** Sessions open on `job` now. */
  count (job: string): number
  /**
   * Since when (epoch ms) job `job` has had no session that counts: null while a session is
   * open (an open one may still turn out long); else the end of the last session of 10 s or more,
   * or `from` (the job's start), or when this tracker started, whichever is latest.
   */
  idleSince (job: string, from: number): number | null
  /** Drops what is known of a job that ended. */
  forget (job: string): void
}

export function createActivity (opts: { now?: () => number } = {}): Activity {
  const now = opts.now ?? Date.now
  const startedAt = now()
  const open = new Map<string, number>()
  const lastEnd = new Map<string, number>()
  return {
    open (job) {
      const at = now()
      open.set(job, (open.get(job) ?? 0) + 1)
      let closed = false
      return () => {
        if (closed) return
        closed = true
        const left = (open.get(job) ?? 1) - 1
        if (left > 0) open.set(job, left); else open.delete(job)
        const end = now()
        if (end - at >= SHORT_SESSION_MS) lastEnd.set(job, Math.max(lastEnd.get(job) ?? 0, end))
      }
    },
    count: job => open.get(job) ?? 0,
    idleSince (job, from) {
      if (open.has(job)) return null
      return Math.max(from, startedAt, lastEnd.get(job) ?? 0)
    },
    forget (job) {
      lastEnd.delete(job)
    }
  }
}
