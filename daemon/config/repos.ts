// `repos` entries (SPEC §1.6): `"local_path_or_url[:path]"` or
// `{local_path | url, branch, hash, path, if_exists}`. A relative `local_path` is resolved
// against the configuration file's directory by resolveRepoLocalPath, once that is known.
import { homedir } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { fail, show, type ConfigIssue } from './errors.ts'
import { asEnum, asString, isMapping } from './scalars.ts'
import { opt, record } from './schema.ts'
import { isWindowsAbsolute, splitLocalPathSpec } from './files.ts'
import type { RepoSpec } from './types.ts'

export const REPO_IF_EXISTS = ['error', 'skip'] as const

/** `~` and `~/x` are the user's home; `~user/x` is not supported. */
function noTildeUser (s: string): string {
  if (s.startsWith('~') && s.split(/[\\/]/)[0] !== '~') fail(`\`~username\` syntax is not supported, got ${show(s)}`)
  return s
}

function nonEmpty (what: string) {
  return (v: unknown): string => {
    const s = asString(v, what)
    if (s === '') fail(`expected ${what}, got an empty string`)
    return s
  }
}

function optionalText (what: string) {
  // An empty string counts as unset, as in dstack (`if values["local_path"]`).
  return opt((v: unknown) => asString(v, what) || null, null)
}

const repoObject = record({
  local_path: opt((v: unknown) => { const s = asString(v, 'a local path'); return s === '' ? null : noTildeUser(s) }, null),
  url: optionalText('a Git URL'),
  branch: optionalText('a branch name'),
  hash: optionalText('a commit hash'),
  // null is invalid here (pydantic's non-Optional `str`), so no opt(): only a missing key defaults.
  path: (v: unknown) => v === undefined ? '.' : noTildeUser(nonEmpty('a path in the container')(v)),
  if_exists: (v: unknown) => v === undefined ? 'error' : asEnum(v, REPO_IF_EXISTS)
}, (out): ConfigIssue[] => {
  if (out.local_path !== null && out.url !== null) return [{ path: ['url'], message: '`local_path` and `url` are mutually exclusive' }]
  if (out.local_path === null && out.url === null) return [{ path: [], message: 'Either `local_path` or `url` must be specified' }]
  return []
})

/** URL detection (dstack's): the first `:`-part has `@` (scp form) or the second starts with `//`. */
function splitRepoString (s: string): { url: boolean, parts: string[] } {
  const parts = s.split(':')
  if (parts.length > 1 && (parts[0]!.includes('@') || parts[1]!.startsWith('//'))) {
    let head = `${parts[0]}:${parts[1]}`
    let rest = parts.slice(2)
    // `https://host:8443/x`: a port straight after a bare host is part of the URL, not a path.
    // (dstack itself splits there; no sane repo path follows a URL that has no path.)
    if (parts[1]!.startsWith('//') && !parts[1]!.slice(2).includes('/') && rest.length > 0 && /^\d+(\/|$)/.test(rest[0]!)) {
      head += `:${rest[0]}`
      rest = rest.slice(1)
    }
    return { url: true, parts: [head, ...rest] }
  }
  return { url: false, parts: splitLocalPathSpec(s) }
}

export function parseRepoSpec (v: unknown): RepoSpec {
  if (isMapping(v)) return repoObject(v)
  if (typeof v !== 'string') return fail(`expected "local_path_or_url[:path]" or {local_path | url, branch, hash, path, if_exists}, got ${show(v)}`)
  const { url, parts } = splitRepoString(v)
  if (parts.length > 2) fail(`Invalid repo: ${show(v)} (expected "local_path_or_url[:path]")`)
  const source = parts[0]!
  if (source === '') fail(`Invalid repo: ${show(v)} has no local path or URL`)
  const path = parts.length === 2 ? noTildeUser(nonEmpty('a path in the container after ":"')(parts[1])) : '.'
  return {
    local_path: url ? null : noTildeUser(source),
    url: url ? source : null,
    branch: null,
    hash: null,
    path,
    if_exists: 'error'
  }
}

/**
 * The spec with a relative `local_path` made absolute against the configuration file's
 * directory; a leading `~` or `~/` is the user's home. Windows drive paths are kept as given.
 */
export function resolveRepoLocalPath (spec: RepoSpec, configDir: string): RepoSpec {
  const p = spec.local_path
  if (p === null || isWindowsAbsolute(p)) return spec
  const expanded = p === '~' ? homedir() : p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : p
  return { ...spec, local_path: isAbsolute(expanded) ? resolve(expanded) : resolve(configDir, expanded) }
}
