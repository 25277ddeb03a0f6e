// ink's useInput, subscribed once and for all, with the handler and `isActive` read at each
// key: a key that comes right after a render otherwise reaches the handler of the render before
// (stale state: the second of two quick `N` presses did not reverse the sort), and one that comes
// right after a screen became active is lost while its subscription is being made again.
import { useCallback, useRef } from 'react'
import { useInput, type Key } from 'ink'

export type KeyHandler = (input: string, key: Key) => void

export function useKeys (handler: KeyHandler, opts: { isActive?: boolean } = {}): void {
  const ref = useRef({ handler, active: opts.isActive !== false })
  ref.current = { handler, active: opts.isActive !== false }
  useInput(useCallback((input: string, key: Key) => { if (ref.current.active) ref.current.handler(input, key) }, []))
}

/**
 * Where a moving key goes from `at` (the arrows, j/k, PgUp/PgDn or ctrl+b/ctrl+f, g/G or
 * home/end; the mouse wheel arrives as arrows) among positions 0..`last`, or null for any other
 * key. Tables move their selection with it, text views their first line.
 */
export function moveOf (input: string, key: Key, at: number, page: number, last: number): number | null {
  if (key.upArrow || input === 'k') return at - 1
  if (key.downArrow || input === 'j') return at + 1
  if (key.pageUp || (key.ctrl && input === 'b')) return at - page
  if (key.pageDown || (key.ctrl && input === 'f') || input === ' ') return at + page
  if (key.home || input === 'g') return 0
  if (key.end || input === 'G') return last
  return null
}
