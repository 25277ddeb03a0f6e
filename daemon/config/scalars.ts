// Scalars with the lax coercions dstack's pydantic models allow: a number where a string is
// expected becomes its text, "yes" is true, "8000" is an integer. Each throws ConfigError.
import { fail, show } from './errors.ts'

export function isMapping (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function asString (v: unknown, what = 'a string'): string {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return fail(`expected ${what}, got ${show(v)}`)
}

const TRUE = new Set(['true', 'yes', 'y', 'on', '1', 't'])
const FALSE = new Set(['false', 'no', 'n', 'off', '0', 'f'])

export function asBool (v: unknown): boolean {
  if (typeof v === 'boolean') return v
  if (v === 0 || v === 1) return v === 1
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase()
    if (TRUE.has(s)) return true
    if (FALSE.has(s)) return false
  }
  return fail(`expected true or false, got ${show(v)}`)
}

export function asNumber (v: unknown, what = 'a number'): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v.trim()))) return Number(v.trim())
  return fail(`expected ${what}, got ${show(v)}`)
}

export function asInt (v: unknown, what = 'an integer'): number {
  const n = typeof v === 'boolean' ? NaN : asNumber(v, what)
  if (!Number.isInteger(n)) fail(`expected ${what}, got ${show(v)}`)
  return n
}

/** An integer with inclusive bounds; either bound may be omitted. */
export function asIntIn (v: unknown, min?: number, max?: number): number {
  const n = asInt(v)
  if (min !== undefined && n < min) fail(`must be at least ${min}, got ${n}`)
  if (max !== undefined && n > max) fail(`must be at most ${max}, got ${n}`)
  return n
}

export function asEnum<T extends string> (v: unknown, values: readonly T[]): T {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T
  return fail(`expected one of ${values.map(x => JSON.stringify(x)).join(', ')}, got ${show(v)}`)
}

export function asList (v: unknown, what = 'a list'): unknown[] {
  if (Array.isArray(v)) return v
  return fail(`expected ${what}, got ${show(v)}`)
}
