// Durations (SPEC §1.4), in seconds, and their three "off" flavours.
import { fail, show } from './errors.ts'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
const EXPECTED = 'a duration such as 90, 30s, 5m, 1h, 2d or 1w'

/**
 * An int, a float (truncated), a string of digits, or `<int><s|m|h|d|w>` with optional spaces
 * before the unit. Units are lowercase and one per value: `1h30m`, `1.5h`, `2H` and `2y` are errors.
 */
export function parseDuration (v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(`expected ${EXPECTED}, got ${show(v)}`)
    const n = Math.trunc(v)
    if (!Number.isSafeInteger(n)) fail(`duration ${show(v)} is too large`)
    return n === 0 ? 0 : n
  }
  if (typeof v !== 'string') return fail(`expected ${EXPECTED}, got ${show(v)}`)
  const plain = /^\s*([+-]?\d+)\s*$/.exec(v)
  const unit = plain ? null : /^(\d+) *([smhdw])$/.exec(v.trim())
  if (!plain && !unit) {
    const s = v.trim()
    if (/^\d+ *[SMHDW]$/.test(s)) fail(`${show(v)} is not a duration: units are lowercase (s, m, h, d, w)`)
    if (/^\d+ *[a-z]+$/i.test(s)) fail(`${show(v)} is not a duration: the unit must be one of s, m, h, d, w`)
    if (/^\d+ *[a-z]+ *\d/i.test(s)) fail(`${show(v)} is not a duration: use a single unit, as in 90m`)
    if (/^[+-]?\d*\.\d+ *[a-z]*$/i.test(s)) fail(`${show(v)} is not a duration: the amount must be a whole number`)
    fail(`expected ${EXPECTED}, got ${show(v)}`)
  }
  const n = plain ? Number(plain[1]) : Number(unit![1]) * UNITS[unit![2]!]!
  if (!Number.isSafeInteger(n)) fail(`duration ${show(v)} is too large`)
  return n === 0 ? 0 : n
}

/**
 * `max_duration`, `stop_duration`: `off` or false → 'off'; true, null or absent → the default;
 * a negative duration is an error.
 */
export function parseOffableDuration (v: unknown, dflt: number | 'off'): number | 'off' {
  if (v === true || v === null || v === undefined) return dflt
  if (v === false || isOff(v)) return 'off'
  const n = parseDuration(v)
  if (n < 0) fail(`a duration cannot be negative, got ${show(v)} (use off for no limit)`)
  return n
}

/**
 * `idle_duration`, `auto_cleanup_duration`: `off`, false or any negative → -1 (never); true, null or
 * absent → the default.
 */
export function parseIdleDuration (v: unknown, dflt: number): number {
  if (v === true || v === null || v === undefined) return dflt
  if (v === false || isOff(v)) return -1
  const n = parseDuration(v)
  return n < 0 ? -1 : n
}

/** Dev-environment `inactivity_duration`: off, false, true, null or absent → null (disabled). */
export function parseInactivityDuration (v: unknown): number | null {
  if (v === true || v === false || v === null || v === undefined || isOff(v)) return null
  const n = parseDuration(v)
  if (n < 0) fail(`a duration cannot be negative, got ${show(v)} (use off to disable)`)
  return n
}

function isOff (v: unknown): boolean {
  return typeof v === 'string' && v.trim() === 'off'
}

/** The largest unit that divides the value exactly: `90s`, `5m`, `1h`, `3d`, `1w`; `off` for 'off' or a negative. */
export function formatDuration (seconds: number | 'off'): string {
  if (seconds === 'off' || seconds < 0) return 'off'
  const s = Math.trunc(seconds)
  if (s === 0) return '0s'
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    if (s % UNITS[unit]! === 0) return `${s / UNITS[unit]!}${unit}`
  }
  return `${s}s`
}
