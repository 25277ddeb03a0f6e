// The one way a test waits for something: poll until it holds, and fail naming what it waited
// for (with the last error seen) when it never does. The timeout is a hang guard, never a
// measurement: speed belongs in scripts/bench/.

export interface WaitOptions {
  /** What is awaited, for the failure message: "the run to be done". */
  what: string
  /** Give up after this many milliseconds. Default 60 s: generous, a loaded 2-core CI machine is slow. */
  timeout?: number
  /** Milliseconds between tries. Default 50. */
  interval?: number
}

/**
 * Calls `fn` until it returns something truthy and resolves to that value. A throw counts as
 * "not yet" (the last one is quoted if the wait times out).
 */
export async function waitFor<T> (fn: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeout = opts.timeout ?? 60_000
  const interval = opts.interval ?? 50
  const deadline = Date.now() + timeout
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch (err) { last = err }
    if (Date.now() >= deadline) break
    await new Promise(resolve => setTimeout(resolve, interval))
  }
  const why = last === undefined ? '' : `: ${last instanceof Error ? last.message : String(last)}`
  throw new Error(`timed out after ${timeout} ms waiting for ${opts.what}${why}`)
}
