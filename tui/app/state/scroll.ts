// Scrolling through lines (a run's description, its YAML, its logs): the first line on screen,
// moved by the arrows, j/k, PgUp/PgDn (ctrl+b/ctrl+f), g/G (home/end) and the mouse wheel
// (arrows, terminal.ts). With `follow`, the view stays at the end as lines come.
import { useState } from 'react'
import { type Key } from 'ink'
import { useKeys } from './keys.ts'

export interface ScrollState {
  /** The first line on screen. */
  offset: number
  follow: boolean
  setFollow (on: boolean): void
  scrollTo (offset: number): void
}

/** The last offset at which the view is full (or 0). */
export function endOffset (count: number, height: number): number {
  return Math.max(0, count - height)
}

export function useScroll (opts: { count: number, height: number, active: boolean, follow?: boolean, onKey?: (input: string, key: Key) => boolean | void }): ScrollState {
  const { count, height } = opts
  const [raw, setRaw] = useState(0)
  const [follow, setFollow] = useState(opts.follow === true)
  const end = endOffset(count, height)
  const offset = follow ? end : Math.max(0, Math.min(raw, end))
  const scrollTo = (o: number): void => {
    const next = Math.max(0, Math.min(o, end))
    setRaw(next)
    // Scrolling to the end follows again; scrolling up stops following (as less +F does).
    setFollow(opts.follow !== undefined && next >= end)
  }
  useKeys((input, key) => {
    if (opts.onKey?.(input, key) === true) return
    const page = Math.max(1, height - 1)
    if (key.upArrow || input === 'k') scrollTo(offset - 1)
    else if (key.downArrow || input === 'j') scrollTo(offset + 1)
    else if (key.pageUp || (key.ctrl && input === 'b')) scrollTo(offset - page)
    else if (key.pageDown || (key.ctrl && input === 'f') || input === ' ') scrollTo(offset + page)
    else if (key.home || input === 'g') scrollTo(0)
    else if (key.end || input === 'G') scrollTo(end)
  }, { isActive: opts.active })
  return { offset, follow, setFollow: on => { if (!on) setRaw(offset); setFollow(on) }, scrollTo }
}
