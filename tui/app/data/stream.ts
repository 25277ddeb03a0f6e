// The app's data access: subscriptions to the daemon's streams (`runs.watch`, `events.list`,
// `logs`, …) and one-off calls, as hooks. A stream that fails is opened again after a pause
// (the daemon restarting, a leader changing); its state says so meanwhile. Items are handed to
// the caller as they come; re-renders are coalesced to at most one per `THROTTLE_MS`.
import { useEffect, useMemo, useRef, useState } from 'react'
import type { ApiClient } from '../../../daemon/api/client.ts'
import type { ClientMethods } from '../../../daemon/api/methods.ts'

type M = ClientMethods
export type StreamName = { [K in keyof M]: M[K]['stream'] extends true ? K : never }[keyof M]
export type CallName = { [K in keyof M]: M[K]['stream'] extends true ? never : K }[keyof M]
export type ParamsOf<K extends keyof M> = M[K]['params']
export type ItemOf<K extends keyof M> = M[K]['result']

/** At most ~30 re-renders a second from data, however fast it comes. */
export const THROTTLE_MS = 33

export type StreamStatus = 'connecting' | 'live' | 'ended' | 'error'

export interface StreamState<T> {
  status: StreamStatus
  /** The last item, or undefined before the first. */
  last: T | undefined
  /** Items received since the stream (re)opened. */
  count: number
  /** Why it failed (then it is retried), or null. */
  error: string | null
}

export interface StreamOptions<T> {
  /** Called for every item, before the (throttled) re-render: where a screen accumulates them. */
  onItem?: (item: T) => void
  /** Called when the stream (re)opens, before its first item: where a screen clears what it accumulated. */
  onOpen?: () => void
  /** Open again after an error (default true); an ended stream stays ended. */
  retry?: boolean
  /** Nothing is opened while false. */
  enabled?: boolean
}

/** Calls `fn` at most once per `ms` (the last call wins; the first runs at once). */
export function throttle (fn: () => void, ms: number): { (): void, cancel (): void } {
  let timer: NodeJS.Timeout | undefined
  let last = 0
  const run = (): void => { timer = undefined; last = Date.now(); fn() }
  const t = (): void => {
    if (timer !== undefined) return
    const wait = last + ms - Date.now()
    if (wait <= 0) run()
    else timer = setTimeout(run, wait)
  }
  t.cancel = () => { if (timer !== undefined) clearTimeout(timer); timer = undefined }
  return t
}

const RETRY_MS = [500, 1000, 2000, 5000]

/** A subscription to a streaming method, kept open while the component is mounted. */
export function useStream<K extends StreamName> (client: ApiClient, method: K, params: ParamsOf<K>, opts: StreamOptions<ItemOf<K>> = {}): StreamState<ItemOf<K>> {
  const [state, setState] = useState<StreamState<ItemOf<K>>>({ status: 'connecting', last: undefined, count: 0, error: null })
  const optsRef = useRef(opts)
  optsRef.current = opts
  const key = JSON.stringify(params ?? null)
  const enabled = opts.enabled !== false
  useEffect(() => {
    if (!enabled) return
    const stop = new AbortController()
    let current: StreamState<ItemOf<K>> = { status: 'connecting', last: undefined, count: 0, error: null }
    const flush = throttle(() => { if (!stop.signal.aborted) setState(current) }, THROTTLE_MS)
    const set = (next: Partial<StreamState<ItemOf<K>>>, now = false): void => {
      current = { ...current, ...next }
      if (now) { flush.cancel(); if (!stop.signal.aborted) setState(current) } else flush()
    }
    void (async () => {
      for (let attempt = 0; !stop.signal.aborted; attempt++) {
        try {
          optsRef.current.onOpen?.()
          set({ status: 'connecting', count: 0 }, true)
          const items = (client as unknown as { stream (m: string, p: unknown, o: { signal: AbortSignal }): AsyncIterable<ItemOf<K>> })
            .stream(method, params, { signal: stop.signal })
          for await (const item of items) {
            attempt = 0
            optsRef.current.onItem?.(item)
            set({ status: 'live', last: item, count: current.count + 1, error: null })
          }
          set({ status: 'ended' }, true)
          return
        } catch (err) {
          if (stop.signal.aborted) return
          const e = err as Error & { code?: string }
          set({ status: 'error', error: e.message }, true)
          // A refused request (bad params, no such run, no access) will be refused again.
          if (optsRef.current.retry === false || client.closed || ['invalid', 'not_found', 'forbidden', 'unauthenticated'].includes(e.code ?? '')) return
          await new Promise(resolve => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]))
        }
      }
    })()
    return () => { stop.abort(); flush.cancel() }
  }, [client, method, key, enabled]) // eslint-disable-line react-hooks/exhaustive-deps
  return state
}

export interface CallState<T> {
  data: T | undefined
  error: string | null
  loading: boolean
  /** Calls again (keeps the data meanwhile). */
  reload (): void
}

/** A unary call made when mounted and whenever `params` (or `version`) changes. */
export function useCall<K extends CallName> (client: ApiClient, method: K, params: ParamsOf<K>, version = 0): CallState<ItemOf<K>> {
  const [state, setState] = useState<{ data: ItemOf<K> | undefined, error: string | null, loading: boolean }>({ data: undefined, error: null, loading: true })
  const [reloads, setReloads] = useState(0)
  const key = JSON.stringify(params ?? null)
  useEffect(() => {
    let live = true
    setState(s => ({ ...s, loading: true }))
    ;(client as unknown as { call (m: string, p: unknown): Promise<ItemOf<K>> }).call(method, params).then(
      data => { if (live) setState({ data, error: null, loading: false }) },
      (err: Error) => { if (live) setState(s => ({ data: s.data, error: err.message, loading: false })) }
    )
    return () => { live = false }
  }, [client, method, key, version, reloads]) // eslint-disable-line react-hooks/exhaustive-deps
  return { ...state, reload: () => setReloads(n => n + 1) }
}

export interface ListState<T> extends Omit<StreamState<T>, 'last'> {
  /** Every item since the stream (re)opened, oldest first (at most `max`, the newest kept). */
  items: readonly T[]
}

/** A stream whose items add up to a list (events, a run's history); re-rendered at most ~30/s. */
export function useStreamList<K extends StreamName> (client: ApiClient, method: K, params: ParamsOf<K>, opts: { enabled?: boolean, max?: number } = {}): ListState<ItemOf<K>> {
  const buffer = useRef<ItemOf<K>[]>([])
  const max = opts.max ?? 100_000
  const state = useStream(client, method, params, {
    enabled: opts.enabled,
    onOpen: () => { buffer.current = [] },
    onItem: item => {
      buffer.current.push(item)
      if (buffer.current.length > max) buffer.current.splice(0, buffer.current.length - max)
    }
  })
  // A new array only when something came, so memos over it hold between items.
  const items = useMemo(() => [...buffer.current], [state.count, state.status]) // eslint-disable-line react-hooks/exhaustive-deps
  return { status: state.status, count: state.count, error: state.error, items }
}
