// The shape of every leader loop: one pass at a time, only while this node leads; a trigger
// that comes during a pass folds into one more pass after it (so nothing is decided twice from
// the same state), and a timer runs a pass every `intervalMs` for what time alone changes.
export interface LeaderLoop {
  trigger (): void
  close (): void
}

export function startLeaderLoop (opts: {
  /** The term this node leads in, or null. */
  leaderTerm: () => number | null
  intervalMs: number
  pass: (term: number) => Promise<void>
  onError: (err: unknown) => void
}): LeaderLoop {
  let running = false
  let again = false
  let closed = false

  async function run (): Promise<void> {
    if (running) { again = true; return }
    running = true
    try {
      do {
        again = false
        const term = opts.leaderTerm()
        if (term === null || closed) return
        await opts.pass(term)
      } while (again && !closed)
    } catch (err) {
      opts.onError(err)
    } finally {
      running = false
    }
  }

  const timer = setInterval(() => { void run() }, opts.intervalMs)
  timer.unref()
  void run()
  return {
    trigger: () => { void run() },
    close () {
      closed = true
      clearInterval(timer)
    }
  }
}
