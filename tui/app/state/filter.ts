// The `/` filter: what the user typed becomes a Filter (screen.ts), or a message saying why the
// regex is not one. `/!text` keeps the rows that do not match. Screens apply it to the text of
// each row (its cells joined), so a filter matches what the user sees.
import type { Filter } from '../screen.ts'

export const NO_FILTER: Filter = { pattern: null, invert: false }

/** Compiles the filter line; an invalid regex is an error message, never a throw. */
export function parseFilter (text: string): { filter: Filter } | { error: string } {
  const invert = text.startsWith('!')
  const source = invert ? text.slice(1) : text
  if (source === '') return { filter: { pattern: null, invert: false } }
  try {
    // Case-insensitive unless the pattern has a capital letter (as less and k9s do).
    return { filter: { pattern: new RegExp(source, /[A-Z]/.test(source) ? '' : 'i'), invert } }
  } catch (err) {
    return { error: `/${text}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` }
  }
}

/** Does a row's text pass the filter? */
export function passes (filter: Filter, text: string): boolean {
  if (filter.pattern === null) return true
  filter.pattern.lastIndex = 0
  return filter.pattern.test(text) !== filter.invert
}

/** The items whose text passes the filter. */
export function applyFilter<T> (items: readonly T[], filter: Filter, textOf: (item: T) => string): T[] {
  if (filter.pattern === null) return items as T[]
  return items.filter(i => passes(filter, textOf(i)))
}

/** The filter as the breadcrumb shows it: `/gpu`, `/!done`. */
export function filterText (filter: Filter): string {
  return filter.pattern === null ? '' : `/${filter.invert ? '!' : ''}${filter.pattern.source}`
}
