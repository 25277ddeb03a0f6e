// Where the app is: a stack of routes (the breadcrumb), each with its own `/` filter, and the
// `:` command line's grammar and completion over the registered screens. Pure, so the frame
// (app.tsx) only renders it.
import type { Filter, Route, Screen } from '../screen.ts'
import { NO_FILTER } from './filter.ts'

export interface Place { route: Route, filter: Filter }

/** The stack after going to `to`: back to it if it is already on the stack, else pushed. */
export function push (stack: readonly Place[], to: Route): Place[] {
  const at = stack.findIndex(p => p.route.screen === to.screen && p.route.arg === to.arg)
  if (at >= 0) return stack.slice(0, at + 1)
  return [...stack, { route: to, filter: NO_FILTER }]
}

/** The stack after `esc`: one back (the first place stays). */
export function pop (stack: readonly Place[]): Place[] {
  return stack.length > 1 ? stack.slice(0, -1) : [...stack]
}

export function findScreen (screens: readonly Screen[], name: string): Screen | undefined {
  const n = name.toLowerCase()
  return screens.find(s => s.name === n) ?? screens.find(s => s.aliases?.includes(n))
}

/** Every `:` name: screens, their aliases, and `quit`. */
export function commandNames (screens: readonly Screen[]): string[] {
  return [...screens.flatMap(s => [s.name, ...(s.aliases ?? [])]), 'quit']
}

/** The `:` line read: a route, `quit`, or an error message. */
export function parseCommand (screens: readonly Screen[], line: string): { route: Route } | { quit: true } | { error: string } {
  const [name, ...rest] = line.trim().split(/\s+/)
  if (!name) return { error: 'type a screen name: ' + screens.map(s => s.name).join(', ') }
  if (name === 'q' || name === 'quit' || name === 'q!') return { quit: true }
  const screen = findScreen(screens, name)
  if (screen === undefined) return { error: `:${name}: no such screen (${screens.map(s => s.name).join(', ')})` }
  const arg = rest.join(' ')
  return { route: arg ? { screen: screen.name, arg } : { screen: screen.name } }
}

/** The completions of the `:` line's first word, and the line completed as far as they agree. */
export function complete (screens: readonly Screen[], line: string): { line: string, candidates: string[] } {
  if (/\s/.test(line)) return { line, candidates: [] }
  const candidates = [...new Set(commandNames(screens).filter(n => n.startsWith(line.toLowerCase())))].sort()
  if (candidates.length === 0) return { line, candidates }
  if (candidates.length === 1) return { line: candidates[0]! + ' ', candidates }
  let common = candidates[0]!
  for (const c of candidates) while (!c.startsWith(common)) common = common.slice(0, -1)
  return { line: common.length > line.length ? common : line, candidates }
}

/** The breadcrumb: `runs › logs my-run`. */
export function breadcrumb (screens: readonly Screen[], stack: readonly Place[]): string {
  return stack.map(p => {
    const title = findScreen(screens, p.route.screen)?.title ?? p.route.screen
    return p.route.arg ? `${title} ${p.route.arg}` : title
  }).join(' › ')
}
