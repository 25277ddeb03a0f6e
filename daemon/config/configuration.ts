// A whole configuration file: YAML → dispatch on `type` → the validated, normalized object.
import { ConfigError, nearest, show, type ConfigIssue } from './errors.ts'
import { loadYaml } from './document.ts'
import { parseDevEnvironment, type DevEnvironmentConfiguration } from './dev-environment.ts'
import { parseFleet, type FleetConfiguration } from './fleet.ts'
import { parseGateway, type GatewayConfiguration } from './gateway.ts'
import { PROFILE_KEYS } from './profile.ts'
import { isMapping } from './scalars.ts'
import { collect } from './schema.ts'
import { parseService, type ServiceConfiguration } from './service.ts'
import { parseTask, type TaskConfiguration } from './task.ts'
import { parseVolume, type VolumeConfiguration } from './volume.ts'
import { UNSUPPORTED_TYPES, unsupported } from './support.ts'

export type RunConfiguration = TaskConfiguration | ServiceConfiguration | DevEnvironmentConfiguration
export type Configuration = RunConfiguration | FleetConfiguration | VolumeConfiguration | GatewayConfiguration

const PARSERS = {
  task: parseTask,
  service: parseService,
  'dev-environment': parseDevEnvironment,
  fleet: parseFleet,
  volume: parseVolume,
  gateway: parseGateway
} as const

export type ConfigurationType = keyof typeof PARSERS
export const CONFIGURATION_TYPES = Object.keys(PARSERS) as ConfigurationType[]
export const RUN_TYPES: readonly ConfigurationType[] = ['task', 'service', 'dev-environment']

export interface ParseOptions {
  /** The file's name, for messages (`train.dstack.yml:3:5: …`). */
  file?: string
  /**
   * The selected profile's parameters (from profiles.yml); values the configuration sets win.
   * Applied to run configurations only.
   */
  profile?: Record<string, unknown> | null
}

/** The configuration in `input` (YAML text, or a value already parsed), validated and normalized, as dstack judges it. */
export function parseConfiguration (input: string | unknown, opts: ParseOptions = {}): Configuration {
  return judged(input, opts, c => c)
}

/**
 * The one judgement of a file that `dstack validate`, `dstack apply` and the daemon share: a
 * valid configuration this version runs, or a ConfigError naming every mistake and every part
 * it does not run yet (support.ts), with what to do instead.
 */
export function parseRunConfiguration (input: string | unknown, opts: ParseOptions = {}): RunConfiguration {
  return judged(input, opts, c => {
    const issues = unsupported(c)
    if (issues.length > 0) throw new ConfigError(issues)
    return c as RunConfiguration
  })
}

function judged<T> (input: string | unknown, opts: ParseOptions, check: (c: Configuration) => T): T {
  if (typeof input !== 'string') return check(validate(input, opts.profile))
  const doc = loadYaml(input, opts.file)
  try {
    return check(validate(doc.value, opts.profile))
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(byPosition(doc.locate(err.issues)), opts.file)
    throw err
  }
}

function validate (value: unknown, profile: Record<string, unknown> | null | undefined): Configuration {
  if (!isMapping(value)) {
    throw new ConfigError(value === null || value === undefined
      ? 'the file is empty: a configuration needs at least `type`'
      : `a configuration is a mapping with a \`type\`, got ${show(value)}`)
  }
  const type = value.type
  if (type === undefined || type === null) throw new ConfigError([{ path: ['type'], key: true, message: `is required: one of ${CONFIGURATION_TYPES.join(', ')}` }])
  if (type === 'preset') throw new ConfigError([{ path: ['type'], message: UNSUPPORTED_TYPES.preset! }])
  if (typeof type !== 'string' || !(type in PARSERS)) {
    const guess = typeof type === 'string' ? nearest(type, CONFIGURATION_TYPES) : undefined
    throw new ConfigError([{ path: ['type'], message: `unknown type ${show(type)}: expected one of ${CONFIGURATION_TYPES.join(', ')}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}` }])
  }
  const t = type as ConfigurationType
  const merged = profile && RUN_TYPES.includes(t) ? withProfile(value, profile) : value
  const issues: ConfigIssue[] = []
  const out = collect(issues, [], () => PARSERS[t](merged))
  if (out === undefined) throw new ConfigError(issues)
  return out
}

/** The profile's parameters beneath the configuration's own. */
function withProfile (config: Record<string, unknown>, profile: Record<string, unknown>): Record<string, unknown> {
  const out = { ...config }
  for (const key of PROFILE_KEYS) {
    if ((out[key] === undefined || out[key] === null) && profile[key] !== undefined && profile[key] !== null) out[key] = profile[key]
  }
  return out
}

/** Issues in the order a reader meets them in the file. */
function byPosition (issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0))
}
