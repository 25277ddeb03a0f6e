// `files` (SPEC §1.6): `"local[:path]"` or `{local_path, path}`; local files or folders copied
// into the container. Relative local paths are resolved against the configuration file's
// directory later, relative container paths against the repo directory.
import { fail, show } from './errors.ts'
import { asString, isMapping } from './scalars.ts'
import { record } from './schema.ts'
import type { FileMapping } from './types.ts'

/**
 * Splits `a:b:c` on colons, keeping a leading Windows drive (`C:\x:/y` → `C:\x`, `/y`):
 * a single letter followed by `\` or `/` is a drive, not a part.
 */
export function splitLocalPathSpec (s: string): string[] {
  const parts = s.split(':')
  if (parts.length > 1 && /^[A-Za-z]$/.test(parts[0]!) && /^[\\/]/.test(parts[1]!)) {
    return [`${parts[0]}:${parts[1]}`, ...parts.slice(2)]
  }
  return parts
}

/** `C:\x`, `c:/x`, `\\server\share`, `//server/share`: absolute to Windows. */
export function isWindowsAbsolute (s: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(s) || /^[\\/]{2}[^\\/]+[\\/]+[^\\/]/.test(s)
}

function localPath (v: unknown): string {
  const s = asString(v, 'a local path')
  if (s === '') fail('expected a local path, got an empty string')
  return s
}

function containerPath (v: unknown): string {
  const s = asString(v, 'a container path')
  if (s === '') fail('expected a container path, got an empty string')
  if (isWindowsAbsolute(s)) fail(`path must be a Unix path in the container, got ${show(s)}`)
  return s
}

const required = (g: (v: unknown) => string) => (v: unknown) => v === undefined || v === null ? fail('is required') : g(v)

const fileObject = record({
  local_path: required(localPath),
  path: required(containerPath)
})

export function parseFileMapping (v: unknown): FileMapping {
  if (isMapping(v)) return fileObject(v)
  if (typeof v !== 'string') return fail(`expected "local_path[:path]" or {local_path, path}, got ${show(v)}`)
  const parts = splitLocalPathSpec(v)
  if (parts.length > 2) fail(`expected "local_path[:path]" with at most one colon (besides a Windows drive), got ${show(v)}`)
  const local = localPath(parts[0])
  return { local_path: local, path: containerPath(parts[1] ?? local) }
}
