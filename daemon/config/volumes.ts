// Volume mount points (SPEC §1.6): `"src:dst"`, where a `/` in `src` makes it an instance
// (host bind) mount and anything else a network volume name, or the object forms.
import { ConfigError, fail, show } from './errors.ts'
import { asBool, asString, isMapping } from './scalars.ts'
import { list, opt, record } from './schema.ts'
import { checkTemplate, interpolate } from './interpolate.ts'
import type { InstanceMountPoint, MountPoint, VolumeMountPoint } from './types.ts'

/**
 * An absolute POSIX path with no `..` segment, normalized: duplicate slashes, `.` segments
 * and a trailing `/` removed (`/` stays `/`).
 */
export function normalizeMountPath (v: unknown): string {
  const s = asString(v, 'an absolute path')
  if (s === '') fail('expected an absolute path, got an empty string')
  if (!s.startsWith('/')) fail(`path must be absolute, got ${show(s)}`)
  const parts = s.split('/').filter(p => p !== '' && p !== '.')
  if (parts.includes('..')) fail(`path must not contain "..", got ${show(s)}`)
  return `/${parts.join('/')}`
}

/** A network volume name; it may use `${{ dstack.job_num }}` / `${{ dstack.node_rank }}`. */
function volumeName (v: unknown): string {
  const s = asString(v, 'a volume name')
  if (s.trim() === '') fail(`expected a volume name, got ${show(s)}`)
  checkTemplate(s, ['dstack'], 'network volume names')
  return s
}

function required<T> (g: (v: unknown) => T): (v: unknown) => T {
  return v => v === undefined || v === null ? fail('is required') : g(v)
}

const volumeObject = record({
  name: required((v: unknown): string | string[] => {
    if (!Array.isArray(v)) return volumeName(v)
    if (v.length === 0) fail('expected a volume name or a non-empty list of names, got []')
    return list(volumeName)(v)
  }),
  path: required(normalizeMountPath)
})

const instanceObject = record({
  instance_path: required(normalizeMountPath),
  path: required(normalizeMountPath),
  optional: opt(asBool, false)
})

export function parseMountPoint (v: unknown): MountPoint {
  if (typeof v === 'string') {
    const parts = v.split(':')
    if (parts.length !== 2) fail(`expected "source:path" with exactly one colon, got ${show(v)}`)
    const [src, dst] = parts as [string, string]
    try {
      if (src.includes('/')) {
        const m: InstanceMountPoint = { instance_path: normalizeMountPath(src), path: normalizeMountPath(dst), optional: false }
        return m
      }
      const m: VolumeMountPoint = { name: volumeName(src), path: normalizeMountPath(dst) }
      return m
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      // A message about one side of the colon says which side.
      throw new ConfigError(err.issues.map(i => ({ ...i, message: `${i.message} (in ${show(v)})` })))
    }
  }
  if (isMapping(v)) {
    const hasName = Object.hasOwn(v, 'name')
    const hasInstance = Object.hasOwn(v, 'instance_path')
    if (hasName && hasInstance) fail('`name` (a network volume) and `instance_path` (an instance mount) are mutually exclusive')
    if (hasInstance) return instanceObject(v)
    if (hasName) return volumeObject(v)
    fail(`expected {name, path} (a network volume) or {instance_path, path} (an instance mount), got ${show(v)}`)
  }
  return fail(`expected a mount point ("volume-name:/path", "/instance/path:/path" or an object), got ${show(v)}`)
}

/** A network volume name for the node of rank `nodeRank`: both templates give the rank. */
export function volumeNameForNode (name: string, nodeRank: number): string {
  return interpolate(name, ref => ref.ns === 'dstack' && (ref.name === 'job_num' || ref.name === 'node_rank') ? String(nodeRank) : undefined)
}
