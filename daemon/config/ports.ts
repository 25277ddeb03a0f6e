// Port mappings (SPEC §1.6): `ports` of tasks and dev environments, the CLI's `-p`, and a
// service's `port`.
import { ConfigError, fail, show } from './errors.ts'
import { asInt, isMapping } from './scalars.ts'
import { opt, record } from './schema.ts'
import type { PortMapping } from './types.ts'

export const MIN_PORT = 1
export const MAX_PORT = 65535

/** An integer 1..65535; a numeric string is accepted (pydantic's lax int). */
export function parsePort (v: unknown): number {
  const n = typeof v === 'number' || typeof v === 'string' ? asInt(v, 'a port number') : fail(`expected a port number, got ${show(v)}`)
  if (n < MIN_PORT || n > MAX_PORT) fail(`expected a port number ${MIN_PORT}..${MAX_PORT}, got ${show(v)}`)
  return n
}

const mappingObject = record({
  local_port: opt(parsePort, null),
  container_port: (v: unknown) => v === undefined || v === null ? fail('is required') : parsePort(v)
})

const PORT_FORMS = '8080, "8080", "80:8080", "*:8080" or {local_port, container_port}'

/** `8080`, `"8080"`, `"L:C"`, `"*:C"` (any free local port) or `{local_port?, container_port}`. */
export function parsePortMapping (v: unknown): PortMapping {
  if (isMapping(v)) return mappingObject(v)
  if (typeof v === 'number') {
    const port = parsePort(v)
    return { local_port: port, container_port: port }
  }
  if (typeof v === 'string') {
    const m = /^(?:(\d+|\*):)?(\d+)$/.exec(v)
    if (!m) fail(`expected a port mapping (${PORT_FORMS}), got ${show(v)}`)
    const container = parsePort(m[2])
    const local = m[1] === undefined ? container : m[1] === '*' ? null : parsePort(m[1])
    return { local_port: local, container_port: container }
  }
  return fail(`expected a port mapping (${PORT_FORMS}), got ${show(v)}`)
}

/**
 * A service's `port`: `N` means `{local_port: 80, container_port: N}`, `"L:C"` is explicit,
 * an object is taken as is. Only the container port matters to a service.
 */
export function parseServicePort (v: unknown): PortMapping {
  if (isMapping(v)) return mappingObject(v)
  if (typeof v === 'string') {
    const m = /^(\d+):(\d+)$/.exec(v)
    if (m) return { local_port: parsePort(m[1]), container_port: parsePort(m[2]) }
    if (!/^\d+$/.test(v)) fail(`expected a port (8000, "80:8000" or {local_port, container_port}), got ${show(v)}`)
  } else if (typeof v !== 'number') {
    fail(`expected a port (8000, "80:8000" or {local_port, container_port}), got ${show(v)}`)
  }
  return { local_port: 80, container_port: parsePort(v) }
}

function inUse (port: number): never {
  throw new ConfigError(`Port ${port} is already in use`)
}

function checkUnique (ports: Array<number | null>): void {
  const seen = new Set<number>()
  for (const p of ports) {
    if (p === null) continue
    if (seen.has(p)) inUse(p)
    seen.add(p)
  }
}

/**
 * The configuration's ports with the CLI's `-p` entries applied: a CLI entry replaces the one
 * with the same container port (in its place) or is appended. Duplicate container ports on
 * either side, or duplicate local ports after the merge, are errors.
 */
export function mergePorts (config: readonly PortMapping[], cli: readonly PortMapping[]): PortMapping[] {
  checkUnique(config.map(p => p.container_port))
  checkUnique(cli.map(p => p.container_port))
  const merged = new Map<number, PortMapping>()
  for (const p of config) merged.set(p.container_port, p)
  for (const p of cli) merged.set(p.container_port, p)
  const out = [...merged.values()]
  checkUnique(out.map(p => p.local_port))
  return out
}

/** 10000–10999 belong to dstack itself; such ports are not forwarded as apps. */
export function isReservedPort (n: number): boolean {
  return n >= 10000 && n <= 10999
}
