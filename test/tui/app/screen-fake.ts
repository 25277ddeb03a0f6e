// The Fleets, Offers, Events, Projects and Apply screen tests' stand: a fake ApiClient whose
// unary answers and streams (fed item by item) the test decides, and the screen mounted with the
// props the frame would give it. (fake.ts is the Runs and Logs tests'; the two can become one.)
import { createElement } from 'react'
import { render } from 'ink-testing-library'
import type { ApiClient } from '../../../daemon/api/client.ts'
import type { Filter, Route, Screen, ScreenProps } from '../../../tui/app/screen.ts'

/** A stream the test feeds: `push` an item, `fail` with an error, `end` it. */
export interface Feed<T> {
  push (item: T): void
  fail (err: Error): void
  end (): void
  /** How many times it was opened, and the params of the last opening. */
  opened: number
  params: unknown
  /** True once the screen left it (its signal aborted). */
  left: boolean
  iterable (params: unknown, signal?: AbortSignal): AsyncIterable<T>
}

export function feed<T> (): Feed<T> {
  const queue: Array<{ item?: T, err?: Error, end?: boolean }> = []
  let wake: (() => void) | null = null
  const f: Feed<T> = {
    opened: 0,
    params: undefined,
    left: false,
    push (item) { queue.push({ item }); wake?.() },
    fail (err) { queue.push({ err }); wake?.() },
    end () { queue.push({ end: true }); wake?.() },
    iterable (params, signal) {
      f.opened++
      f.params = params
      return (async function * () {
        signal?.addEventListener('abort', () => { f.left = true; wake?.() })
        while (signal?.aborted !== true) {
          const next = queue.shift()
          if (next === undefined) { await new Promise<void>(resolve => { wake = resolve }); continue }
          if (next.err) throw next.err
          if (next.end) return
          yield next.item as T
        }
      })()
    }
  }
  return f
}

type Answer = (params: any) => unknown

/** An ApiClient whose calls answer from `calls` (a method not there fails `unknown_method`), whose streams come from `streams`. */
export function fakeClient (calls: Record<string, Answer>, streams: Record<string, Feed<any>> = {}): ApiClient & { asked: Array<{ method: string, params: unknown }> } {
  const asked: Array<{ method: string, params: unknown }> = []
  const unknown = (method: string) => Object.assign(new Error(`unknown method ${method}`), { code: 'unknown_method' })
  return {
    asked,
    closed: false,
    async call (method: string, params?: unknown) {
      asked.push({ method, params })
      const answer = calls[method]
      if (answer === undefined) throw unknown(method)
      return await answer(params)
    },
    stream (method: string, params?: unknown, opts?: { signal?: AbortSignal }) {
      asked.push({ method, params })
      const f = streams[method]
      if (f === undefined) return (async function * () { throw unknown(method) })()
      return f.iterable(params, opts?.signal)
    },
    async close () {}
  } as unknown as ApiClient & { asked: Array<{ method: string, params: unknown }> }
}

export const NO_FILTER: Filter = { pattern: null, invert: false }

export interface Mounted {
  lastFrame (): string | undefined
  stdin: { write (data: string): void }
  rerender (props: Partial<ScreenProps>): void
  unmount (): void
  went: Route[]
  flashes: Array<{ text: string, kind?: string }>
}

/** Renders a screen as the frame would, with `props` over sensible defaults (80×20, active). */
export function mount (screen: Screen, props: Partial<ScreenProps> & { client: ApiClient }): Mounted {
  const went: Route[] = []
  const flashes: Array<{ text: string, kind?: string }> = []
  let current: ScreenProps = {
    width: 80, height: 20, filter: NO_FILTER, active: true, readonly: false,
    go: to => { went.push(to) }, flash: (text, kind) => { flashes.push({ text, kind }) }, suspend: async () => 0,
    ...props
  }
  const r = render(createElement(screen.Component, current))
  return {
    lastFrame: r.lastFrame,
    stdin: r.stdin,
    rerender (p) { current = { ...current, ...p }; r.rerender(createElement(screen.Component, current)) },
    unmount: r.unmount,
    went,
    flashes
  }
}

/** Lets React and the fake streams run, then waits until `check` holds (or fails after 2 s with the last frame). */
export async function until (m: Mounted, check: (frame: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 2000
  for (;;) {
    const frame = m.lastFrame() ?? ''
    if (check(frame)) return frame
    if (Date.now() > deadline) throw new Error(`expected ${what}; the screen shows:\n${frame}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Keys as a terminal sends them. */
export const KEY = { up: '\u001B[A', down: '\u001B[B', enter: '\r', esc: '\u001B', backspace: '\u007F' }

/** The width of the widest line of a frame (a screen must stay inside its box). */
export function widest (frame: string): number {
  return Math.max(0, ...frame.split('\n').map(l => l.replace(/\u001B\[[0-9;]*m/g, '').length))
}

/**
 * Types `keys` once the screen has settled: ink renews a key handler in an effect after each
 * render, so a key sent the instant a frame appears would reach the handler of the frame before.
 */
export async function press (m: Mounted, keys: string): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, 100))
  m.stdin.write(keys)
}
