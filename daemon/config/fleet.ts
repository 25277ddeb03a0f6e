// `type: fleet` (SPEC §1.8): a backend fleet (`nodes` provisioned from clouds) or an SSH fleet
// (`ssh_config` hosts that exist already).
import { fail, show, type ConfigIssue } from './errors.ts'
import { parseEnv } from './env.ts'
import { parseRange } from './range.ts'
import { deprecatedFleetShape, fleetProfileShape, SPOT_POLICIES } from './profile.ts'
import { parseResources } from './resources.ts'
import { resources, runName } from './run.ts'
import { asEnum, asIntIn, asString, isMapping } from './scalars.ts'
import { given, isSet, list, opt, record, type Grammar } from './schema.ts'

export interface FleetNodes { min: number, target: number, max: number | null }

/** `N`, `"a..b"` or `{min, target, max}`: min defaults to 0, target to min, max to unbounded. */
const fleetNodes: Grammar<FleetNodes> = v => {
  let out: FleetNodes
  if (isMapping(v)) {
    const r = record({
      min: opt(x => asIntIn(x, 0), 0),
      target: opt(x => asIntIn(x, 0), null as number | null),
      max: opt(x => asIntIn(x, 0), null as number | null)
    })(v)
    out = { min: r.min, target: r.target ?? r.min, max: r.max }
  } else {
    const r = parseRange(v, 'count')
    out = { min: r.min ?? 0, target: r.min ?? 0, max: r.max }
  }
  if (out.target < out.min) fail(`target ${out.target} is below min ${out.min}`)
  if (out.max !== null && out.target > out.max) fail(`target ${out.target} is above max ${out.max}`)
  return out
}

const blocks: Grammar<number | 'auto'> = v => v === 'auto' ? 'auto' : asIntIn(v, 1)

const port = (v: unknown) => asIntIn(v, 1, 65535)

const proxyJump = record({
  hostname: v => asString(v),
  port: opt(port, 22),
  user: v => asString(v),
  identity_file: v => asString(v)
})

function ipv4 (s: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (!m) return null
  const parts = m.slice(1).map(Number)
  return parts.every(p => p <= 255) ? parts : null
}

function isPrivate ([a, b]: number[]): boolean {
  return a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)
}

const privateIp: Grammar<string> = v => {
  const s = asString(v)
  const ip = ipv4(s)
  if (!ip) fail(`${show(s)} is not an IPv4 address`)
  if (!isPrivate(ip)) fail(`${show(s)} is not a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`)
  return s
}

const privateNetwork: Grammar<string> = v => {
  const s = asString(v)
  const [addr, bits, ...rest] = s.split('/')
  const ip = ipv4(addr ?? '')
  const prefix = Number(bits)
  if (!ip || rest.length > 0 || bits === undefined || !/^\d+$/.test(bits) || prefix > 32) fail(`${show(s)} is not a CIDR network such as 10.0.0.0/24`)
  if (!isPrivate(ip)) fail(`${show(s)} is not a private network`)
  return s
}

const hostShape = {
  hostname: (v: unknown) => asString(v),
  port: opt(port, null as number | null),
  user: opt(v => asString(v), null as string | null),
  identity_file: opt(v => asString(v), null as string | null),
  proxy_jump: opt(proxyJump, null),
  internal_ip: opt(privateIp, null),
  blocks: opt(blocks, null as number | 'auto' | null)
}

const host = (v: unknown) => record(hostShape)(typeof v === 'string' ? { hostname: v } : v)

const sshConfig = record({
  user: opt(v => asString(v), null),
  port: opt(port, null),
  identity_file: opt(v => asString(v), null),
  proxy_jump: opt(proxyJump, null),
  hosts: v => {
    const items = list(host)(v)
    if (items.length === 0) fail('must list at least one host')
    return items
  },
  network: opt(privateNetwork, null)
})

const profile = fleetProfileShape(3 * 24 * 3600)

/** Fields only a backend fleet may set (the SSH fleet's hosts exist already). */
const BACKEND_FIELDS = ['nodes', 'resources', 'backends', 'regions', 'availability_zones', 'instance_types', 'reservation',
  'spot_policy', 'retry', 'max_price', 'idle_duration', 'backend_options'] as const

const shape = {
  type: () => 'fleet' as const,
  name: opt(runName, null),
  placement: opt(v => asEnum(v, ['any', 'cluster'] as const), 'any' as const),
  blocks: opt(blocks, 1 as number | 'auto'),
  env: opt(parseEnv, {}),
  nodes: opt(fleetNodes, null),
  ssh_config: opt(sshConfig, null),
  resources: opt(resources, null),
  backends: profile.backends,
  regions: profile.regions,
  availability_zones: profile.availability_zones,
  instance_types: profile.instance_types,
  reservation: profile.reservation,
  spot_policy: opt(v => asEnum(v, SPOT_POLICIES), null),
  retry: opt(profile.retry, null),
  max_price: profile.max_price,
  idle_duration: opt(profile.idle_duration, null),
  tags: profile.tags,
  backend_options: profile.backend_options,
  ...deprecatedFleetShape()
}

type Parsed = { [K in keyof typeof shape]: ReturnType<typeof shape[K]> }

function rules (out: Parsed, raw: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (out.ssh_config === null && out.nodes === null) return [{ path: [], message: 'a fleet needs either `nodes` (provisioned by a backend) or `ssh_config` (hosts you have)' }]
  if (out.ssh_config !== null) {
    for (const k of BACKEND_FIELDS) if (isSet(raw, k)) issues.push({ path: [k], message: `\`${k}\` is for backend fleets; an SSH fleet (\`ssh_config\`) cannot set it` })
    const ssh = out.ssh_config
    const withIp = ssh.hosts.filter(h => h.internal_ip !== null).length
    if (withIp > 0 && withIp < ssh.hosts.length) issues.push({ path: ['ssh_config', 'hosts'], message: '`internal_ip` must be set on every host or on none' })
    if (withIp > 0 && ssh.network !== null) issues.push({ path: ['ssh_config', 'network'], message: '`network` cannot be combined with hosts\' `internal_ip`' })
    ssh.hosts.forEach((h, i) => {
      h.port ??= ssh.port ?? 22
      h.user ??= ssh.user
      h.identity_file ??= ssh.identity_file
      h.proxy_jump ??= ssh.proxy_jump
      h.blocks ??= out.blocks
      if (h.user === null) issues.push({ path: ['ssh_config', 'hosts', i], message: `host ${show(h.hostname)} has no user: set \`ssh_config.user\` or the host's \`user\`` })
      if (h.identity_file === null) issues.push({ path: ['ssh_config', 'hosts', i], message: `host ${show(h.hostname)} has no key: set \`ssh_config.identity_file\` or the host's \`identity_file\`` })
    })
  } else {
    if (given(raw, 'env')) issues.push({ path: ['env'], message: '`env` is for SSH fleets; a backend fleet passes env through its runs' })
    out.resources ??= parseResources(undefined)
    out.spot_policy ??= 'on-demand'
    out.retry ??= false
    out.idle_duration ??= 3 * 24 * 3600
  }
  if (out.ssh_config !== null && out.nodes !== null) issues.push({ path: ['nodes'], message: '`nodes` and `ssh_config` are mutually exclusive' })
  return issues
}

export const parseFleet = record(shape, rules)
export type FleetConfiguration = ReturnType<typeof parseFleet>
