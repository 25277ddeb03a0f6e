// profiles.yml (SPEC §1.3): named sets of profile parameters. The project's
// `.dstack/profiles.yml` is looked at first, then `~/.dstack/profiles.yml`; `--profile` or
// DSTACK_PROFILE picks one by name, else the entry with `default: true`.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, show } from './errors.ts'
import { loadYaml } from './document.ts'
import { runProfileShape } from './profile.ts'
import { asBool, asString } from './scalars.ts'
import { list, opt, record } from './schema.ts'

const entry = record({
  name: (v: unknown) => asString(v),
  default: opt(asBool, false),
  ...runProfileShape()
})

export interface ProfileEntry {
  name: string
  default: boolean
  /** The parameters as written, to lay beneath a configuration before it is parsed. */
  params: Record<string, unknown>
}

/** Parses one profiles.yml; every entry is validated now so a mistake points at this file. */
export function parseProfiles (text: string, file?: string): ProfileEntry[] {
  const doc = loadYaml(text, file)
  if (doc.value === null || doc.value === undefined) return []
  try {
    const { profiles } = record({ profiles: opt(list(entry), []) })(doc.value)
    const raw = (doc.value as { profiles?: Array<Record<string, unknown>> }).profiles ?? []
    return profiles.map((p, i) => {
      const { name: _, default: __, ...params } = raw[i]!
      return { name: p.name, default: p.default, params }
    })
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(doc.locate(err.issues), file)
    throw err
  }
}

export interface ProfileQuery {
  cwd: string
  home?: string
  /** `--profile` or DSTACK_PROFILE. */
  name?: string | null
  /** `--no-profile` or DSTACK_NO_PROFILE. */
  disabled?: boolean
}

/** The profile files that exist, project first. */
export function profileFiles (cwd: string, home = homedir()): Array<{ file: string, text: string }> {
  const found: Array<{ file: string, text: string }> = []
  for (const dir of [join(cwd, '.dstack'), join(home, '.dstack')]) {
    for (const base of ['profiles.yml', 'profiles.yaml']) {
      try {
        found.push({ file: join(dir, base), text: readFileSync(join(dir, base), 'utf8') })
        break
      } catch { /* absent */ }
    }
  }
  return found
}

/** The selected profile's parameters, or null when none applies. */
export function selectProfile (q: ProfileQuery): Record<string, unknown> | null {
  if (q.disabled) return null
  const files = profileFiles(q.cwd, q.home).map(f => parseProfiles(f.text, f.file))
  for (const entries of files) {
    const hit = q.name ? entries.find(e => e.name === q.name) : entries.find(e => e.default)
    if (hit) return hit.params
  }
  if (q.name) throw new ConfigError(`profile ${show(q.name)} is not found in .dstack/profiles.yml or ~/.dstack/profiles.yml`)
  return null
}
