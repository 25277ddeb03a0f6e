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
