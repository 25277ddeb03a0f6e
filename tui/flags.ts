// The one place a command's flags are read: node's parseArgs for the syntax, then each value
// checked against what its flag takes (a whole number, a price, one of a few words), so
// `--max-offers abc` is an error naming the flag instead of an empty table. Every mistake here
// is a UsageError: `dstack` prints it after the command's name and exits 2.
import { parseArgs } from 'node:util'

/** A mistake in how a command was called (exit code 2), as opposed to one in what it did (1). */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Says what is wrong with a flag's value, or null when it is fine. */
export type Check = (value: string) => string | null

export interface Flag {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Only for string flags: the value's rule. */
  check?: Check
}

const got = (v: string) => `got ${JSON.stringify(v)}`

/** 0, 1, 2, …: counts and indices. */
export const wholeNumber: Check = v => /^\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? null : `expected a whole number, ${got(v)}`

/** A number of at least 0, such as a price: 1, 0.5, 2.75. */
export const nonNegative: Check = v => /^\d+(\.\d+)?$|^\.\d+$/.test(v) && Number.isFinite(Number(v)) ? null : `expected a number of at least 0, ${got(v)}`

/** One of `words`. */
export function oneOf (...words: string[]): Check {
  return v => words.includes(v) ? null : `expected one of ${words.join(', ')}, ${got(v)}`
}

/** A comma-separated list of `words`, each at most once. */
export function listOf (...words: string[]): Check {
  return v => {
    const items = v.split(',').map(s => s.trim())
    const bad = items.find(i => !words.includes(i))
    if (bad !== undefined) return `expected a comma-separated list of ${words.join(', ')}, ${got(bad)}`
    const twice = items.find((i, k) => items.indexOf(i) !== k)
    return twice === undefined ? null : `${twice} is given twice`
  }
}

/** The values of parseArgs for these flags (strings and booleans, arrays where multiple). */
export type Values<F extends Record<string, Flag>> = {
  [K in keyof F]?: F[K]['type'] extends 'boolean'
    ? (F[K]['multiple'] extends true ? boolean[] : boolean)
    : (F[K]['multiple'] extends true ? string[] : string)
}

/**
 * Parses `argv` against `flags`: unknown flags, missing values, stray positionals (unless
 * allowed) and values that break a flag's check are UsageErrors naming the flag.
 */
export function parseFlags<F extends Record<string, Flag>> (argv: string[], flags: F, opts: { positionals?: boolean } = {}): { values: Values<F>, positionals: string[] } {
  const options = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]))
  let parsed: { values: Record<string, unknown>, positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: opts.positionals === true, strict: true })
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(e.message)
    throw err
  }
  for (const [name, f] of Object.entries(flags)) {
    const value = parsed.values[name]
    if (!f.check || value === undefined) continue
    for (const v of (Array.isArray(value) ? value : [value]) as string[]) {
      const problem = f.check(v)
      if (problem) throw new UsageError(`--${name}: ${problem}`)
    }
  }
  return parsed as { values: Values<F>, positionals: string[] }
}
