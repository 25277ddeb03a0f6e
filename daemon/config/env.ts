// `env` (SPEC §1.6): a list `["A=1", "B"]` or a mapping `{A: 1}`. A bare name (or a null value)
// passes the variable through: its value comes from `-e NAME=…` or the local environment at
// apply time.
import { clip, ConfigError, fail, show, type ConfigIssue } from './errors.ts'
import { isMapping } from './scalars.ts'
import type { EnvSpec } from './types.ts'

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const NAME_RULE = 'a name of letters, digits and _ not starting with a digit'

export function isEnvName (s: string): boolean {
  return NAME.test(s)
}

// A plain assignment to `__proto__` would change the object's prototype instead of adding a
// variable; env names come from users, so every write goes through this.
function setVar (env: Record<string, string | null>, name: string, value: string | null): void {
  Object.defineProperty(env, name, { value, enumerable: true, writable: true, configurable: true })
}

/** `NAME=VALUE` → [NAME, VALUE] (split on the first `=`); bare `NAME` → [NAME, null]. For `-e`. */
export function parseEnvArg (arg: string): [string, string | null] {
  const eq = arg.indexOf('=')
  const name = eq < 0 ? arg : arg.slice(0, eq)
  if (!NAME.test(name)) fail(`expected NAME=VALUE or NAME, with ${NAME_RULE}; got ${show(arg)}`)
  return [name, eq < 0 ? null : arg.slice(eq + 1)]
}

function envValue (v: unknown): string | null {
  if (v === null) return null
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'boolean') fail(`expected a string, got ${v}; quote it ("${v}") if the text is meant`)
  return fail(`expected a string (or nothing, to pass the variable through), got ${show(v)}`)
}

export function parseEnv (v: unknown): EnvSpec {
  const env: EnvSpec = {}
  const issues: ConfigIssue[] = []
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        issues.push({ path: [i], message: `expected NAME=VALUE or NAME, got ${show(item)}` })
        return
      }
      try {
        const [name, value] = parseEnvArg(item)
        if (Object.hasOwn(env, name)) issues.push({ path: [i], message: `duplicate environment variable ${clip(name)}` })
        else setVar(env, name, value)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        issues.push(...err.under([i]).issues)
      }
    })
  } else if (isMapping(v)) {
    for (const [name, value] of Object.entries(v)) {
      if (!NAME.test(name)) {
        issues.push({ path: [name], key: true, message: `invalid environment variable name ${show(name)}: expected ${NAME_RULE}` })
        continue
      }
      try {
        setVar(env, name, envValue(value))
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        issues.push(...err.under([name]).issues)
      }
    }
  } else {
    fail(`expected a list of NAME=VALUE (or NAME) or a mapping of NAME: VALUE, got ${show(v)}`)
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return env
}

/** `overrides` (the CLI's `-e`) win over `base`, a pass-through override included. */
export function mergeEnv (base: EnvSpec, overrides: EnvSpec): EnvSpec {
  const out: EnvSpec = {}
  for (const [name, value] of Object.entries(base)) setVar(out, name, value)
  for (const [name, value] of Object.entries(overrides)) setVar(out, name, value)
  return out
}

/** Fills pass-through variables from `localEnv`; every one missing there is an issue. */
export function resolveEnv (env: EnvSpec, localEnv: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string | null> = {}
  const issues: ConfigIssue[] = []
  for (const [name, value] of Object.entries(env)) {
    const resolved = value ?? (Object.hasOwn(localEnv, name) ? localEnv[name] : undefined)
    if (resolved === undefined) issues.push({ path: [name], message: `Environment variable ${clip(name)} is not set` })
    else setVar(out, name, resolved)
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return out as Record<string, string>
}
