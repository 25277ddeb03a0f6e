// An AbortSignal that fires after a timeout or when any of some other signals fires, and that
// lets go of its timer and listeners when the caller is done (AbortSignal.any and
// AbortSignal.timeout keep both until the signals themselves go away, which in a daemon that
// makes a call every few milliseconds is a lot of timers and listeners).

export interface LinkedSignal {
  signal: AbortSignal
  /** True when the timeout (not one of the other signals) fired. */
  timedOut: () => boolean
  /** Clears the timer and the listeners; call it in a `finally`. */
  dispose: () => void
}

export function linkedSignal (timeoutMs: number | undefined, ...others: Array<AbortSignal | undefined>): LinkedSignal {
  const ac = new AbortController()
  let timedOut = false
  const sources = others.filter((s): s is AbortSignal => s !== undefined)
  const onAbort = function (this: AbortSignal): void { dispose(); ac.abort(this.reason) }
  let timer: NodeJS.Timeout | undefined
  const dispose = (): void => {
    if (timer !== undefined) { clearTimeout(timer); timer = undefined }
    for (const s of sources) s.removeEventListener('abort', onAbort)
  }
  const already = sources.find(s => s.aborted)
  if (already !== undefined) {
    ac.abort(already.reason)
  } else {
    for (const s of sources) s.addEventListener('abort', onAbort, { once: true })
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        timedOut = true
        dispose()
        ac.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'))
      }, timeoutMs)
      timer.unref()
    }
  }
  return { signal: ac.signal, timedOut: () => timedOut, dispose }
}
