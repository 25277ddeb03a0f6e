// `type: service` (SPEC §1.2): a port behind the proxy or a gateway, replicas with scaling,
// rate limits, probes, and replica groups.
import { ConfigError, fail, show, type ConfigIssue } from './errors.ts'
import { parseDuration } from './duration.ts'
import { parseServicePort } from './ports.ts'
import { entityRef, SPOT_POLICIES } from './profile.ts'
import { parseRange } from './range.ts'
import { asBool, asEnum, asIntIn, asNumber, asString, isMapping } from './scalars.ts'
import { commands, commonRunShape, EXCLUSIVE_IMAGE_SOURCES, finishRun, imageRules, nameGroups, pythonVersion, resources, templated } from './run.ts'
import { forbidding, given, isSet, list, opt, record, type Grammar } from './schema.ts'
import type { Range } from './types.ts'

const COMMAND_NAMESPACES = ['run', 'groups'] as const

export interface Model { type: 'chat', name: string, format: 'openai' | 'tgi', prefix: string, chat_template?: string | null, eos_token?: string | null }

const model: Grammar<Model> = v => {
  if (typeof v === 'string') return { type: 'chat', name: v, format: 'openai', prefix: '/v1' }
  if (isMapping(v) && v.format === 'tgi') {
    return record({
      type: opt(x => asEnum(x, ['chat'] as const), 'chat' as const),
      name: x => asString(x),
      format: () => 'tgi' as const,
      prefix: opt(x => asString(x), '/v1'),
      chat_template: opt(x => asString(x), null),
      eos_token: opt(x => asString(x), null)
    })(v)
  }
  return record({
    type: opt(x => asEnum(x, ['chat'] as const), 'chat' as const),
    name: x => asString(x),
    format: opt(x => asEnum(x, ['openai', 'tgi'] as const), 'openai' as const),
    prefix: opt(x => asString(x), '/v1')
  })(v)
}

const SCALING_WINDOWS = [30, 60, 300]

export const scaling = record({
  metric: v => asEnum(v, ['rps'] as const),
  target: v => {
    const n = asNumber(v)
    if (n <= 0) fail(`must be greater than 0, got ${n}`)
    return n
  },
  window: opt(v => {
    const s = parseDuration(v)
    if (!SCALING_WINDOWS.includes(s)) fail(`must be 30s, 60s or 300s, got ${show(v)}`)
    return s
  }, 60),
  scale_up_delay: opt(parseDuration, 300),
  scale_down_delay: opt(parseDuration, 600)
})

/** A fixed count or a range; a range needs `max`, and an omitted `min` is 0. */
const replicaCount: Grammar<Range> = v => {
  const r = parseRange(v, 'count')
  if (r.max === null) fail(`${show(v)} needs a maximum: scaling must know how far it may go`)
  return { min: r.min ?? 0, max: r.max }
}

function scalingRule (count: Range | null, hasScaling: boolean, path: Array<string | number>): ConfigIssue[] {
  if (count === null) return []
  if (count.min !== count.max && !hasScaling) return [{ path: [...path, 'replicas'], message: 'a range of replicas needs `scaling`' }]
  if (count.min === count.max && hasScaling) return [{ path: [...path, 'scaling'], message: '`scaling` needs a range of replicas (e.g. `replicas: 0..4`)' }]
  return []
}

const rateLimitKey = (v: unknown) => {
  if (isMapping(v) && v.type === 'header') return record({ type: () => 'header' as const, header: rateLimitHeader })(v)
  return record({ type: x => asEnum(x, ['ip_address', 'header'] as const) })(v)
}

/** dstack's pattern and length (the name goes into the gateway's nginx configuration). */
const rateLimitHeader = (v: unknown): string => {
  const s = asString(v)
  if (s.length > 500) fail(`a header name is at most 500 characters, got ${s.length}`)
  if (!/^[a-zA-Z0-9-_]+$/.test(s)) fail(`${show(s)} is not a header name: use letters, digits, - and _`)
  return s
}

const RATE_LIMIT_PREFIX = /^\/[^\s\\{}]*$/

const rateLimit = record({
  prefix: opt(v => {
    const s = asString(v)
    if (!RATE_LIMIT_PREFIX.test(s)) fail(`${show(s)} must start with "/" and contain no spaces, backslashes or braces`)
    return s
  }, '/'),
  key: opt(rateLimitKey, { type: 'ip_address' as const }),
  rps: v => {
    const n = asNumber(v)
    if (n < 1 / 60) fail(`must be at least 1/60 (one request a minute), got ${n}`)
    return n
  },
  burst: opt(v => asIntIn(v, 0), 0)
})

const PROBE_METHODS = ['get', 'post', 'put', 'delete', 'patch', 'head'] as const

const probe = record({
  type: opt(v => asEnum(v, ['http'] as const), 'http' as const),
  url: opt(v => {
    const s = templated(['env'])(v)
    if (!s.startsWith('/')) fail(`must start with "/", got ${show(s)}`)
    if (s.length > 2048) fail('must be at most 2048 characters')
    return s
  }, '/'),
  method: opt(v => asEnum(v, PROBE_METHODS), 'get' as const),
  headers: opt(v => {
    const items = list(record({ name: x => asString(x), value: templated(['env']) }))(v)
    if (items.length > 16) fail(`at most 16 headers, got ${items.length}`)
    return items
  }, []),
  body: opt(templated(['env']), null),
  timeout: opt(v => boundedSeconds(v, 1, 300), 10),
  interval: opt(v => boundedSeconds(v, 1), 15),
  ready_after: opt(v => asIntIn(v, 1), 1),
  until_ready: opt(asBool, false)
}, (p) => p.body !== null && (p.method === 'get' || p.method === 'head')
  ? [{ path: ['body'], message: `a ${p.method.toUpperCase()} probe cannot have a body` }]
  : [])

type Probe = ReturnType<typeof probe>

function boundedSeconds (v: unknown, min: number, max?: number): number {
  const s = parseDuration(v)
  if (s < min) fail(`must be at least ${min}s, got ${s}s`)
  if (max !== undefined && s > max) fail(`must be at most ${max}s, got ${s}s`)
  return s
}

const probes: Grammar<Probe[]> = v => {
  const items = list(probe)(v)
  if (items.length > 10) fail(`at most 10 probes, got ${items.length}`)
  const seen = new Set<string>()
  const issues: ConfigIssue[] = []
  items.forEach((p, i) => {
    const key = JSON.stringify(p)
    if (seen.has(key)) issues.push({ path: [i], message: 'the same probe is listed twice' })
    seen.add(key)
  })
  if (issues.length > 0) throw new ConfigError(issues)
  return items
}

/** The probe dstack adds for a model: a one-token chat completion. */
function modelProbe (m: Model): Probe {
  return {
    type: 'http',
    url: `${m.prefix.replace(/\/$/, '')}/chat/completions`,
    method: 'post',
    headers: [{ name: 'Content-Type', value: 'application/json' }],
    body: JSON.stringify({ model: m.name, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
    timeout: 30,
    interval: 15,
    ready_after: 1,
    until_ready: false
  }
}

/**
 * Image sources that exclude one another between the service and a group: the same pairs as
 * within one level, plus `image` with `nvcc` (allowed together at one level, but one level's
 * custom image cannot take the other level's CUDA base image). Only `python` with `nvcc` mixes.
 */
const CROSS_LEVEL_IMAGE_SOURCES = [...EXCLUSIVE_IMAGE_SOURCES, ['image', 'nvcc']] as const

/** Fields a replica group may set instead of the service (never both). */
const GROUP_OVERRIDES = ['image', 'docker', 'privileged', 'python', 'nvcc', 'spot_policy', 'reservation'] as const

const replicaGroupShape = {
  name: opt(v => asString(v), null as string | null),
  count: opt(replicaCount, { min: 1, max: 1 } as Range),
  scaling: opt(scaling, null),
  resources,
  spot_policy: opt(v => asEnum(v, SPOT_POLICIES), null),
  reservation: opt(v => asString(v), null),
  commands: opt(commands(COMMAND_NAMESPACES), null as string[] | null),
  image: opt(v => asString(v), null),
  python: opt(pythonVersion, null),
  nvcc: opt(asBool, null),
  docker: opt(asBool, null),
  privileged: opt(asBool, null),
  router: opt(record({ type: v => asEnum(v, ['sglang', 'dynamo'] as const) }), null)
}

/** A group as written in `groups` (`replicas`) or in the legacy `replicas: [...]` list (`count`). */
const replicaGroup: Grammar<ReturnType<ReturnType<typeof record<typeof replicaGroupShape>>>> = v => {
  if (!isMapping(v)) fail(`expected a replica group mapping, got ${show(v)}`)
  if ('replicas' in v && 'count' in v) throw new ConfigError([{ path: ['count'], key: true, message: '`count` and `replicas` mean the same: give one' }])
  const { replicas, ...rest } = v
  const group = record(replicaGroupShape, (g, raw) => {
    const issues = imageRules(raw)
    issues.push(...scalingRule(g.count, g.scaling !== null, []).map(i => ({ ...i, path: i.path.map(p => p === 'replicas' ? 'count' : p) })))
    return issues
  })
  try {
    return group('replicas' in v ? { ...rest, count: replicas } : v)
  } catch (err) {
    if (err instanceof ConfigError && 'replicas' in v) {
      throw new ConfigError(err.issues.map(i => i.path[0] === 'count' ? { ...i, path: ['replicas', ...i.path.slice(1)] } : i))
    }
    throw err
  }
}

type ReplicaGroup = ReturnType<typeof replicaGroup>

const shape = {
  ...commonRunShape('service'),
  entrypoint: opt(v => asString(v), null),
  commands: opt(commands(COMMAND_NAMESPACES), []),
  port: (v: unknown) => {
    if (v === undefined || v === null) fail('is required: the container port the service listens on')
    return parseServicePort(v)
  },
  gateway: opt(v => typeof v === 'boolean' ? v : entityRef(v), null as boolean | string | null),
  strip_prefix: opt(asBool, true),
  model: opt(model, null),
  https: opt(v => v === 'auto' ? 'auto' as const : asBool(v), true as boolean | 'auto'),
  auth: opt(asBool, true),
  replicas: opt((v: unknown): Range | ReplicaGroup[] => Array.isArray(v) ? list(replicaGroup)(v) : replicaCount(v), null),
  scaling: opt(scaling, null),
  rate_limits: opt(v => {
    const items = list(rateLimit)(v)
    const seen = new Set<string>()
    const issues: ConfigIssue[] = []
    items.forEach((r, i) => {
      if (seen.has(r.prefix)) issues.push({ path: [i, 'prefix'], message: `prefix ${show(r.prefix)} is limited twice` })
      seen.add(r.prefix)
    })
    if (issues.length > 0) throw new ConfigError(issues)
    return items
  }, []),
  probes: opt(probes, null as Probe[] | null),
  groups: opt(list(replicaGroup), null)
}

type Parsed = { [K in keyof typeof shape]: ReturnType<typeof shape[K]> }

function serviceRules (out: Parsed, raw: Record<string, unknown>): ConfigIssue[] {
  const issues = imageRules(raw)
  const legacy = Array.isArray(out.replicas)
  const groups = out.groups ?? (legacy ? out.replicas as ReplicaGroup[] : null)
  const groupsKey = out.groups !== null ? 'groups' : 'replicas'
  if (out.groups !== null && isSet(raw, 'replicas')) issues.push({ path: ['replicas'], message: '`replicas` and `groups` are mutually exclusive: give each group its own `replicas`' })
  if (groups === null) {
    issues.push(...scalingRule(out.replicas as Range | null ?? { min: 1, max: 1 }, out.scaling !== null, []))
    if (out.commands.length === 0 && out.image === null) issues.push({ path: ['commands'], message: 'Either `commands` or `image` must be set' })
    return issues
  }
  if (groups.length === 0) issues.push({ path: [groupsKey], message: 'must list at least one group' })
  for (const k of ['scaling', 'commands'] as const) {
    if (given(raw, k)) issues.push({ path: [k], message: `\`${k}\` cannot be set at the top level when replica groups are used: set it in each group` })
  }
  issues.push(...nameGroups(groups, [groupsKey]))
  const routers = groups.filter(g => g.router !== null)
  groups.forEach((g, i) => {
    const at = [groupsKey, i]
    for (const k of GROUP_OVERRIDES) {
      if (isSet(raw, k) && g[k] !== null) issues.push({ path: [...at, k], message: `\`${k}\` is set at both the service and the group level` })
    }
    // Image sources exclude one another across levels too, except python with nvcc.
    for (const [a, b] of CROSS_LEVEL_IMAGE_SOURCES) {
      const top = (k: string) => k === 'docker' || k === 'nvcc' ? raw[k] === true : isSet(raw, k)
      const own = (k: 'image' | 'python' | 'nvcc' | 'docker') => k === 'docker' || k === 'nvcc' ? g[k] === true : g[k] !== null
      if ((top(a) && own(b)) || (own(a) && top(b))) issues.push({ path: [...at, own(b) ? b : a], message: `\`${a}\` and \`${b}\` are mutually exclusive (one is set on the service, the other on the group)` })
    }
    if ((g.commands === null || g.commands.length === 0) && g.image === null && out.image === null) {
      issues.push({ path: [...at, 'commands'], message: 'each group needs `commands` or an `image` (its own or the service\'s)' })
    }
    if (g.router !== null && routers.length === 1 && !(g.count.min === 1 && g.count.max === 1)) {
      issues.push({ path: [...at, 'replicas'], message: 'the group with a `router` must have `replicas: 1`' })
    }
  })
  if (routers.length > 1) issues.push({ path: [groupsKey], message: 'at most one group may have a `router`' })
  if (out.retry !== false && routers.some(g => g.router?.type === 'dynamo')) {
    issues.push({ path: ['retry'], message: '`retry` is not supported for a service with a Dynamo router group' })
  }
  return issues
}

function finishService (out: Parsed, raw: Record<string, unknown>) {
  const groups = out.groups ?? (Array.isArray(out.replicas) ? out.replicas : null)
  if (out.probes === null) out.probes = out.model !== null ? [modelProbe(out.model)] : []
  // Defaults filled at the service level would collide with a group's own value on re-reading.
  if (groups !== null) {
    for (const k of GROUP_OVERRIDES) if (!isSet(raw, k) && groups.some(g => g[k] !== null)) (out as Record<string, unknown>)[k] = null
  }
  const { groups: _, ...rest } = finishRun(out)
  // dstack serialises replica groups back as `replicas: [...]` with `count`.
  return { ...rest, replicas: groups ?? out.replicas ?? { min: 1, max: 1 } }
}

export const parseService = (v: unknown) => {
  const parsed = forbidding(record(shape, serviceRules), {
    nodes: '`nodes` is for tasks: a service scales with `replicas`',
    ports: 'a service exposes one `port`; use a task or dev environment for `ports`'
  })(v)
  return finishService(parsed, v as Record<string, unknown>)
}

export type ServiceConfiguration = ReturnType<typeof parseService>

