// Small pieces the Fleets, Offers, Events, Projects and Apply screens share until the frame's
// own table and data hooks (tui/app/, by the frame's branch) take their place: a filter over
// row texts, a cursor moved by the list keys, a unary call and a stream as state, and a plain
// windowed table. Kept deliberately small: it is swapped out, not grown.
import { Box, Text, useInput } from 'ink'
import { useEffect, useRef, useState, type ReactElement } from 'react'
import type { Filter } from '../screen.ts'
import type { Listing } from '../../listings.ts'

/** Whether a row (its cells joined) passes the `/` filter. */
export function passes (filter: Filter, text: string): boolean {
  if (filter.pattern === null) return true
  filter.pattern.lastIndex = 0
  return filter.pattern.test(text) !== filter.invert
}

/** The rows of a listing that pass the filter (the headers stay). */
export function filtered (l: Listing, filter: Filter): Listing {
  return { headers: l.headers, rows: l.rows.filter(r => passes(filter, r.join(' '))) }
}

export interface Loaded<T> { data: T | null, error: string | null, reload (): void }

/** A unary call's answer as state; `reload` asks again. An error is its message. */
export function useCall<T> (load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    load().then(d => { if (live) { setData(d); setError(null) } }, (err: Error) => { if (live) setError(err.message) })
    return () => { live = false }
  }, [...deps, tick])
  return { data, error, reload: () => setTick(t => t + 1) }
}

/**
 * A stream's items, folded into state by `fold` as they come; the stream is left (and the
 * server told) when the screen goes away. An error ends it with its message.
 */
export function useFeed<T, S> (open: (signal: AbortSignal) => AsyncIterable<T>, fold: (state: S, item: T) => S, initial: S, deps: unknown[]): { state: S, error: string | null, started: boolean } {
  const [state, setState] = useState<S>(initial)
  const [error, setError] = useState<string | null>(null)
  const [started, setStarted] = useState(false)
  const foldRef = useRef(fold)
  foldRef.current = fold
  useEffect(() => {
    const stop = new AbortController()
    setState(initial); setError(null); setStarted(false)
    void (async () => {
      try {
        for await (const item of open(stop.signal)) {
          if (stop.signal.aborted) return
          setStarted(true)
          setState(s => foldRef.current(s, item))
        }
      } catch (err) {
        if (!stop.signal.aborted) setError((err as Error).message)
      }
    })()
    return () => stop.abort()
  }, deps)
  return { state, error, started }
}

/** The selected row, moved by ↑/↓ (k/j), PgUp/PgDn, g/G (first/last), kept inside `count`. */
export function useCursor (count: number, page: number, active: boolean): [number, (i: number) => void] {
  const [at, setAt] = useState(0)
  // Read through a ref: a key that comes before the handler is renewed still sees the rows of now.
  const size = useRef({ count, page })
  size.current = { count, page }
  const clamp = (i: number) => Math.max(0, Math.min(size.current.count - 1, i))
  useInput((input, key) => {
    const { count, page } = size.current
    if (key.upArrow || input === 'k') setAt(i => clamp(i - 1))
    else if (key.downArrow || input === 'j') setAt(i => clamp(i + 1))
    else if (key.pageUp) setAt(i => clamp(i - page))
    else if (key.pageDown) setAt(i => clamp(i + page))
    else if (input === 'g') setAt(0)
    else if (input === 'G') setAt(clamp(count - 1))
  }, { isActive: active })
  return [clamp(at), i => setAt(clamp(i))]
}

/** Fits a cell into `width` characters, marking a cut with `…`. */
export function fit (text: string, width: number): string {
  if (width <= 0) return ''
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`
}

/** Lines of a listing as `table()` pads them, the columns sized by every row (not only the visible ones). */
export function listingLines (l: Listing): { header: string, rows: string[] } {
  const widths = l.headers.map((h, i) => Math.max(h.length, ...l.rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  return { header: line(l.headers), rows: l.rows.map(line) }
}

/** The rows around the cursor that fit in `height` lines, the header first; nothing wider than `width`. */
export function Rows ({ listing, width, height, cursor }: { listing: Listing, width: number, height: number, cursor: number }): ReactElement {
  const { header, rows } = listingLines(listing)
  const room = Math.max(0, height - 1)
  const first = Math.max(0, Math.min(cursor - Math.floor(room / 2), rows.length - room))
  return (
    <Box flexDirection='column' width={width} height={Math.min(height, rows.length + 1)}>
      {height > 0 && <Text bold>{fit(header, width)}</Text>}
      {rows.slice(first, first + room).map((r, i) => (
        <Text key={first + i} inverse={first + i === cursor}>{fit(r, width)}</Text>
      ))}
    </Box>
  )
}

/** One line of what a screen shows instead of rows: loading, an error, nothing there. */
export function Note ({ text, width, kind }: { text: string, width: number, kind?: 'error' | 'dim' }): ReactElement {
  return <Text color={kind === 'error' ? 'red' : undefined} dimColor={kind === 'dim'}>{fit(text, width)}</Text>
}
