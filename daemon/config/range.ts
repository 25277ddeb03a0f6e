// Sizes and ranges (SPEC §2.1): memory sizes in GB (base 1024), and `N`, `a..b`, `a..`, `..b`
// or `{min, max}` ranges of counts or sizes, plus the arithmetic the matcher needs on them.
import { ConfigError, fail, nearest, show } from './errors.ts'
import type { ConfigIssue } from './errors.ts'
import { isMapping } from './scalars.ts'
import type { Range } from './types.ts'

export type RangeKind = 'count' | 'memory'

const SIZE_UNITS: Record<string, number> = { mb: 1 / 1024, gb: 1, tb: 1024 }
// Python's float() syntax, as dstack reads sizes with it (exponents included); no inf or nan.
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/

/** A size in GB: a number, or a string with an optional case-insensitive MB/GB/TB suffix; spaces are ignored. */
export function parseMemory (v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(`expected a memory size such as 16GB, 512MB or 1TB, got ${show(v)}`)
    if (v < 0) fail(`a memory size cannot be negative, got ${show(v)}`)
    return v === 0 ? 0 : v
  }
  if (typeof v !== 'string') return fail(`expected a memory size such as 16GB, 512MB or 1TB, got ${show(v)}`)
  const s = v.replace(/\s+/g, '').toLowerCase()
  const unit = /(mb|gb|tb)$/.exec(s)?.[1]
  const digits = unit ? s.slice(0, -2) : s
  if (!DECIMAL.test(digits)) {
    if (/^-/.test(digits) && DECIMAL.test(digits.slice(1))) fail(`a memory size cannot be negative, got ${show(v)}`)
    const suffix = /[a-z]+$/.exec(s)?.[0]
    if (suffix && !unit && DECIMAL.test(s.slice(0, -suffix.length))) {
      fail(`unknown memory unit ${show(suffix)} in ${show(v)} (expected MB, GB or TB)`)
    }
    fail(`expected a memory size such as 16GB, 512MB or 1TB, got ${show(v)}`)
  }
  const n = Number(digits) * SIZE_UNITS[unit ?? 'gb']!
  if (!Number.isFinite(n)) fail(`memory size ${show(v)} is too large`)
  return n
}

/** A count: a whole number of at least 0 (a number, or a string of digits). */
export function parseCount (v: unknown): number {
  let n = NaN
  if (typeof v === 'number') n = v
  else if (typeof v === 'string') {
    const s = v.replace(/\s+/g, '')
    if (/^\d+$/.test(s)) n = Number(s)
    else if (/^-\d+$/.test(s)) n = -1
  }
  if (n < 0) fail(`a count cannot be negative, got ${show(v)}`)
  if (!Number.isSafeInteger(n)) fail(`expected a count (a whole number, 0 or more), got ${show(v)}`)
  return n === 0 ? 0 : n
}

function parseBound (v: unknown, kind: RangeKind): number {
  return kind === 'count' ? parseCount(v) : parseMemory(v)
}

function checkOrder (r: Range, given: unknown, kind: RangeKind): Range {
  if (r.min !== null && r.max !== null && r.min > r.max) {
    fail(`${show(given)} is not a range: min ${formatBound(r.min, kind)} is greater than max ${formatBound(r.max, kind)}`)
  }
  return r
}

/** Re-throws an error from one end of a range string with the whole string quoted. */
function inRangeString<T> (given: string, f: () => T): T {
  try {
    return f()
  } catch (err) {
    if (err instanceof ConfigError) fail(`${show(given)} is not a valid range: ${err.issues.map(i => i.message).join('; ')}`)
    throw err
  }
}

/**
 * `N`, `"N"`, `"a..b"`, `"a.."`, `"..b"` or `{min, max}` (either may be null). Spaces are stripped;
 * memory ranges take a unit on each side (`512..1 TB` is 512..1024).
 */
export function parseRange (v: unknown, kind: RangeKind): Range {
  const what = kind === 'count' ? 'a count or a range such as 2, 2..8, 2.. or ..8' : 'a size or a range such as 24GB, 24GB..80GB, 24GB.. or ..80GB'
  if (typeof v === 'number') {
    const n = parseBound(v, kind)
    return { min: n, max: n }
  }
  if (typeof v === 'string') {
    const s = v.replace(/\s+/g, '')
    if (!s.includes('..')) {
      const n = parseBound(v, kind)
      return { min: n, max: n }
    }
    if (s.includes('...')) fail(`${show(v)} is not a range: use two dots, as in 1..3`)
    const parts = s.split('..')
    if (parts.length !== 2) fail(`${show(v)} is not a range: it has more than one ".."`)
    const [a, b] = parts as [string, string]
    if (a === '' && b === '') fail(`${show(v)} is an empty range: give a min, a max or both`)
    const r = inRangeString(v, () => ({ min: a === '' ? null : parseBound(a, kind), max: b === '' ? null : parseBound(b, kind) }))
    return checkOrder(r, v, kind)
  }
  if (isMapping(v)) {
    const issues: ConfigIssue[] = []
    const r: Range = { min: null, max: null }
    for (const [key, value] of Object.entries(v)) {
      if (key !== 'min' && key !== 'max') {
        const near = nearest(key, ['min', 'max'])
        issues.push({ path: [key], message: `unknown field ${show(key)}${near ? ` (did you mean ${show(near)}?)` : ''}`, key: true })
        continue
      }
      if (value === null || value === undefined) continue
      try {
        r[key] = parseBound(value, kind)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        issues.push(...err.under([key]).issues)
      }
    }
    if (issues.length) throw new ConfigError(issues)
    if (r.min === null && r.max === null) fail(`${show(v)} is an empty range: give a min, a max or both`)
    return checkOrder(r, v, kind)
  }
  return fail(`expected ${what}, got ${show(v)}`)
}

/** The overlap of two ranges (an open end counts as ±∞), or null when they are disjoint. */
export function intersectRanges (a: Range, b: Range): Range | null {
  const lo = Math.max(a.min ?? -Infinity, b.min ?? -Infinity)
  const hi = Math.min(a.max ?? Infinity, b.max ?? Infinity)
  if (lo > hi) return null
  return { min: Number.isFinite(lo) ? lo : null, max: Number.isFinite(hi) ? hi : null }
}

/** Whether x lies in r; both ends are inclusive. */
export function rangeContains (r: Range, x: number): boolean {
  return (r.min === null || x >= r.min) && (r.max === null || x <= r.max)
}

/**
 * A size for people: whole GB as `80GB`, whole MB below that as `512MB`, otherwise the exact GB
 * (`0.1GB`). Always parses back to the same number with parseMemory.
 */
export function formatMemory (gb: number): string {
  if (Number.isInteger(gb)) return `${gb}GB`
  const mb = gb * 1024
  if (Number.isInteger(mb)) return `${mb}MB`
  return `${gb}GB`
}

function formatBound (n: number, kind: RangeKind | 'GB' | undefined): string {
  return kind === 'memory' || kind === 'GB' ? formatMemory(n) : String(n)
}

/** `2..`, `..8`, `1..2`, `80GB` (min = max), `8GB..` with unit 'GB'. */
export function formatRange (r: Range, unit?: 'GB'): string {
  if (r.min !== null && r.min === r.max) return formatBound(r.min, unit)
  const lo = r.min === null ? '' : formatBound(r.min, unit)
  const hi = r.max === null ? '' : formatBound(r.max, unit)
  return `${lo}..${hi}`
}
