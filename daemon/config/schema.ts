// A small, strict schema kit for documents: a mapping is read field by field, every field's
// issues are collected (not only the first), unknown keys are rejected with the nearest valid
// name, and cross-field rules run on the normalized result. Grammars stay plain functions
// `(value: unknown) => T` that throw ConfigError; this file only composes them.
//
// Why not zod: dstack's semantics (pydantic's lax coercions, null meaning "default" for some
// fields and "invalid" for others, YAML 1.1 scalars) need a custom function at nearly every
// leaf, and the messages must be dstack's; composing plain functions keeps one error type and
// one path convention for the whole language.
import { ConfigError, nearest, show, type ConfigIssue, type Path } from './errors.ts'
import { asList, isMapping } from './scalars.ts'

export type Grammar<T> = (v: unknown) => T
export type Shape = Record<string, Grammar<unknown>>
export type Parsed<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> }

/** A rule over the whole normalized mapping; returns issues (paths relative to the mapping). */
export type Rule<T> = (out: T, raw: Record<string, unknown>) => ConfigIssue[]

/** Runs `fn`, turning its ConfigError into issues under `path`. */
export function collect<T> (issues: ConfigIssue[], path: Path, fn: () => T): T | undefined {
  try {
    return fn()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const i of err.issues) issues.push({ ...i, path: [...path, ...i.path] })
    return undefined
  }
}

/** A strict mapping: every key of `shape` read (missing keys get the grammar's default), unknown keys rejected. */
export function record<S extends Shape> (shape: S, ...rules: Array<NoInfer<Rule<Parsed<S>>>>): Grammar<Parsed<S>> {
  const known = Object.keys(shape)
  return (v: unknown) => {
    if (!isMapping(v)) throw new ConfigError(`expected a mapping with fields ${known.join(', ')}; got ${show(v)}`)
    const issues: ConfigIssue[] = []
    let unknown = 0
    for (const key of Object.keys(v)) {
      if (!Object.hasOwn(shape, key)) issues.push({ path: [key], key: true, message: unknownField(key, known, unknown++ < SUGGESTIONS) })
    }
    const out: Record<string, unknown> = {}
    for (const key of known) out[key] = collect(issues, [key], () => shape[key]!(v[key]))
    // Cross-field rules see only fields that parsed, so one mistake is not reported twice.
    if (issues.length === 0) for (const rule of rules) issues.push(...rule(out as Parsed<S>, v))
    if (issues.length > 0) throw new ConfigError(issues)
    return out as Parsed<S>
  }
}

/** Unknown keys of one mapping that get a "did you mean": past that many they are not typos, and the search costs. */
const SUGGESTIONS = 100

export function unknownField (key: string, known: readonly string[], suggest = true): string {
  const guess = suggest ? nearest(key, known) : undefined
  return `unknown field ${show(key)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`
}

/** null or missing → `dflt`; anything else through the grammar. */
export function opt<T, D> (g: Grammar<T>, dflt: D): Grammar<T | D> {
  return v => v === undefined || v === null ? dflt : g(v)
}

/** A list, each element through the grammar; every element's issues are kept. */
export function list<T> (g: Grammar<T>, what = 'a list'): Grammar<T[]> {
  return v => {
    const items = asList(v, what)
    const issues: ConfigIssue[] = []
    const out = items.map((item, i) => collect(issues, [i], () => g(item)))
    if (issues.length > 0) throw new ConfigError(issues)
    return out as T[]
  }
}

/** A mapping of arbitrary keys, each value through the grammar. */
export function dict<T> (g: Grammar<T>, key?: (k: string) => void): Grammar<Record<string, T>> {
  return v => {
    if (!isMapping(v)) throw new ConfigError(`expected a mapping, got ${show(v)}`)
    const issues: ConfigIssue[] = []
    const out: Record<string, T> = {}
    for (const [k, item] of Object.entries(v)) {
      if (key) collect(issues, [k], () => key(k))
      const parsed = collect(issues, [k], () => g(item))
      // defineProperty: a key named __proto__ is data, not the object's prototype.
      if (parsed !== undefined) Object.defineProperty(out, k, { value: parsed, enumerable: true, writable: true, configurable: true })
    }
    if (issues.length > 0) throw new ConfigError(issues)
    return out
  }
}

/** Set in the raw document (null counts as unset, as pydantic's Optional fields do). */
export function isSet (raw: Record<string, unknown>, key: string): boolean {
  return raw[key] !== undefined && raw[key] !== null
}

/** Set to something: an empty list or mapping counts as not given (what a normalized document holds). */
export function given (raw: Record<string, unknown>, key: string): boolean {
  const v = raw[key]
  return isSet(raw, key) && !(Array.isArray(v) && v.length === 0) && !(isMapping(v) && Object.keys(v).length === 0)
}

/** Issues for every pair of mutually exclusive fields that are both set. */
export function exclusive (raw: Record<string, unknown>, pairs: ReadonlyArray<readonly [string, string]>, truthy: readonly string[] = []): ConfigIssue[] {
  const on = (k: string) => truthy.includes(k) ? raw[k] === true : isSet(raw, k)
  return pairs.filter(([a, b]) => on(a) && on(b)).map(([a, b]) => ({ path: [b], message: `\`${a}\` and \`${b}\` are mutually exclusive` }))
}

/**
 * Fields that do not belong here, each with what to do instead; the message replaces the
 * generic "unknown field" one (`commands` in a dev environment: "use `init`").
 */
export function forbidding<T> (g: Grammar<T>, fields: Record<string, string>): Grammar<T> {
  return v => {
    if (!isMapping(v)) return g(v)
    const present = Object.keys(fields).filter(k => k in v)
    if (present.length === 0) return g(v)
    const issues: ConfigIssue[] = present.map(k => ({ path: [k], key: true, message: fields[k]! }))
    const rest = { ...v }
    for (const k of present) delete rest[k]
    collect(issues, [], () => g(rest))
    throw new ConfigError(issues)
  }
}
