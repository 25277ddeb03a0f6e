// Profile parameters (SPEC §1.3): shared by every run type, a subset by fleets, and the
// entries of profiles.yml.
import { Cron } from 'croner'
import { ConfigError, fail, show, type ConfigIssue } from './errors.ts'
import { parseIdleDuration, parseOffableDuration, parseDuration } from './duration.ts'
import { asBool, asEnum, asIntIn, asNumber, asString, isMapping } from './scalars.ts'
import { dict, list, opt, record, type Grammar } from './schema.ts'

export const BACKENDS = ['aws', 'azure', 'gcp', 'kubernetes', 'lambda', 'nebius', 'oci', 'runpod', 'vastai', 'cudo',
  'crusoe', 'verda', 'datacrunch', 'digitalocean', 'amddevcloud', 'cloudrift', 'hotaisle', 'jarvislabs',
  'tensordock', 'vultr', 'slurm', 'remote', 'dstack'] as const
export type Backend = typeof BACKENDS[number]

export const SPOT_POLICIES = ['spot', 'on-demand', 'auto'] as const
export type SpotPolicy = typeof SPOT_POLICIES[number]

export const RETRY_EVENTS = ['no-capacity', 'interruption', 'error'] as const
export type RetryEvent = typeof RETRY_EVENTS[number]

export interface Retry { on_events: RetryEvent[], duration: number }

const HOUR = 3600

export const backend: Grammar<Backend> = v => {
  if (v === 'ssh') fail('"ssh" is not a backend value: SSH fleets are selected with `fleets`')
  return asEnum(v, BACKENDS)
}

/** `name` or `project/name`, with no empty parts. */
export const entityRef: Grammar<string> = v => {
  const s = asString(v)
  const parts = s.split('/')
  if (parts.length > 2 || parts.some(p => p === '')) fail(`expected "name" or "project/name", got ${show(s)}`)
  return s
}

/**
 * A fleet: `name`, `project/name`, or the object form `{project?, name}` that dstack also
 * accepts (and writes back); normalized to the string form.
 */
export const fleetRef: Grammar<string> = v => {
  if (!isMapping(v)) return entityRef(v)
  const part = (x: unknown): string => {
    const s = asString(x)
    if (s === '' || s.includes('/')) fail(`expected a name without "/", got ${show(s)}`)
    return s
  }
  const ref = record({ project: opt(part, null), name: part })(v)
  return ref.project === null ? ref.name : `${ref.project}/${ref.name}`
}

/** false/null → off; true → all events for 1h; a mapping fills what it omits the same way. */
export const retry: Grammar<Retry | false> = v => {
  if (v === undefined || v === null) return false
  if (!isMapping(v)) return asBool(v) ? { on_events: [...RETRY_EVENTS], duration: HOUR } : false
  return record({
    on_events: opt(v2 => {
      const events = list(e => asEnum(e, RETRY_EVENTS))(v2)
      if (events.length === 0) fail('must list at least one event (omit it to retry on every event)')
      return [...new Set(events)]
    }, [...RETRY_EVENTS]),
    duration: opt(v2 => {
      const n = parseDuration(v2)
      if (n < 0) fail(`cannot be negative, got ${show(v2)}`)
      return n
    }, HOUR)
  })(v)
}

const TAG_KEY = /^[_\-a-zA-Z0-9]{1,60}$/
const TAG_VALUE = /^[a-zA-Z0-9 .:/=_\-+@]{0,256}$/

export const tags: Grammar<Record<string, string>> = dict(v => {
  const s = asString(v)
  if (!TAG_VALUE.test(s)) fail(`tag value ${show(s)} must match ${TAG_VALUE.source}`)
  return s
}, k => { if (!TAG_KEY.test(k)) fail(`tag key ${show(k)} must match ${TAG_KEY.source}`) })

const utilizationPolicy = record({
  min_gpu_utilization: v => asIntIn(v, 0, 100),
  time_window: v => {
    const s = parseDuration(v)
    if (s < 300) fail(`must be at least 5m, got ${s}s`)
    if (s > HOUR) fail(`must be at most 1h (the metrics kept), got ${s}s`)
    return s
  }
})

function cronExpression (v: unknown): string {
  const s = asString(v).trim()
  if (s.split(/\s+/).length !== 5) fail(`${show(s)} is not a 5-field cron expression (minute hour day month weekday)`)
  try {
    // Validation only; croner's weekday numbering differs, the scheduler maps it.
    new Cron(s, { paused: true })
  } catch (err) {
    fail(`${show(s)} is not a valid cron expression: ${(err as Error).message}`)
  }
  return s
}

const schedule = record({
  cron: v => Array.isArray(v) ? nonEmpty(list(cronExpression)(v), 'cron') : [cronExpression(v)]
})

function nonEmpty<T> (items: T[], what: string): T[] {
  if (items.length === 0) fail(`${what} must not be empty`)
  return items
}

export type InstanceRef = { name: string } | { hostname: string } | { fleet: string, instance: number }

function nonEmptyString (what: string): Grammar<string> {
  return v => {
    const s = asString(v)
    if (s === '') fail(`expected ${what}, got an empty string`)
    return s
  }
}

const instanceRef: Grammar<InstanceRef> = v => {
  if (typeof v === 'string') return { name: nonEmptyString('an instance name')(v) }
  if (!isMapping(v)) fail(`expected an instance name, {name}, {hostname} or {fleet, instance}; got ${show(v)}`)
  if ('fleet' in v || 'instance' in v) return record({ fleet: fleetRef, instance: v2 => asIntIn(v2, 0) })(v)
  if ('hostname' in v) return record({ hostname: nonEmptyString('a hostname or IP address') })(v)
  return record({ name: nonEmptyString('an instance name') })(v)
}

/** Per-backend options; only vastai has any at present. */
const backendOption: Grammar<Record<string, unknown>> = v => {
  if (!isMapping(v)) fail(`expected a mapping with a \`type\`, got ${show(v)}`)
  const type = asEnum(v.type, BACKENDS)
  if (type === 'vastai') {
    return record({
      type: () => type,
      min_score: opt(x => asNumber(x), null),
      offer_order: opt(x => asString(x), null)
    })(v)
  }
  return record({ type: () => type })(v)
}

const backendOptions: Grammar<Array<Record<string, unknown>>> = v => {
  const items = list(backendOption)(v)
  const seen = new Set<unknown>()
  const issues: ConfigIssue[] = []
  items.forEach((o, i) => {
    if (seen.has(o.type)) issues.push({ path: [i, 'type'], message: `options for ${show(o.type)} are given twice` })
    seen.add(o.type)
  })
  if (issues.length > 0) throw new ConfigError(issues)
  return items
}

const strings = list(v => asString(v))

/** The fields a fleet shares with runs. `idleDefault` differs: 5m for runs, 3d for fleets. */
export function fleetProfileShape (idleDefault: number) {
  return {
    backends: opt(list(backend), null),
    regions: opt(strings, null),
    availability_zones: opt(strings, null),
    instance_types: opt(strings, null),
    reservation: opt(v => asString(v), null),
    spot_policy: opt(v => asEnum(v, SPOT_POLICIES), 'on-demand' as SpotPolicy),
    retry,
    max_price: opt(v => {
      const n = asNumber(v)
      if (n <= 0) fail(`must be greater than 0, got ${n}`)
      return n
    }, null),
    idle_duration: (v: unknown) => parseIdleDuration(v, idleDefault),
    tags: opt(tags, null),
    backend_options: opt(backendOptions, null)
  }
}

/**
 * Fields of 0.18-era files that dstack still accepts and ignores ("deprecated and unused,
 * left for compatibility"): read and kept, with no effect, so such files keep working.
 */
export function deprecatedFleetShape () {
  return {
    termination_idle_time: opt((v: unknown) => typeof v === 'number' ? v : asString(v), null as number | string | null),
    termination_policy: opt((v: unknown) => asEnum(v, ['dont-destroy', 'destroy-after-idle'] as const), null)
  }
}

function deprecatedRunShape () {
  return {
    ...deprecatedFleetShape(),
    pool_name: opt((v: unknown) => asString(v), null),
    instance_name: opt((v: unknown) => asString(v), null),
    retry_policy: opt(record({ retry: opt(asBool, null), duration: opt(parseDuration, null) }), null)
  }
}

/** Every profile parameter of a run configuration. */
export function runProfileShape () {
  return {
    ...fleetProfileShape(5 * 60),
    ...deprecatedRunShape(),
    max_duration: (v: unknown) => parseOffableDuration(v, 'off'),
    stop_duration: (v: unknown) => parseOffableDuration(v, 5 * 60),
    creation_policy: opt(v => asEnum(v, ['reuse', 'reuse-or-create'] as const), 'reuse-or-create' as const),
    utilization_policy: opt(utilizationPolicy, null),
    startup_order: opt(v => asEnum(v, ['any', 'master-first', 'workers-first'] as const), 'any' as const),
    stop_criteria: opt(v => asEnum(v, ['all-done', 'master-done'] as const), 'all-done' as const),
    schedule: opt(schedule, null),
    fleets: opt(list(fleetRef), null),
    instances: opt(v => nonEmpty(list(instanceRef)(v), 'instances'), null)
  }
}

export const PROFILE_KEYS = Object.keys(runProfileShape())

/** The spot requirement a policy gives: spot → true, on-demand → false, auto → either. */
export function spotRequirement (policy: SpotPolicy): boolean | null {
  return policy === 'spot' ? true : policy === 'on-demand' ? false : null
}
