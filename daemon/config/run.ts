// What task, service and dev-environment configurations share (SPEC §1.2): the image and its
// alternatives, the environment, resources, volumes, repos, files, and the profile parameters.
import { ConfigError, fail, show, type ConfigIssue, type Path } from './errors.ts'
import { parseEnv } from './env.ts'
import { parseFileMapping } from './files.ts'
import { checkTemplate } from './interpolate.ts'
import { mergePorts, parsePortMapping } from './ports.ts'
import { runProfileShape } from './profile.ts'
import { parseRepoSpec } from './repos.ts'
import { parseResources } from './resources.ts'
import { asBool, asIntIn, asString } from './scalars.ts'
import { collect, exclusive, list, opt, record, type Grammar } from './schema.ts'
import type { PortMapping, ResourcesSpec } from './types.ts'
import { parseMountPoint } from './volumes.ts'

export const RUN_NAME = /^[a-z][a-z0-9-]{1,40}$/

export const runName: Grammar<string> = v => {
  const s = asString(v)
  if (!RUN_NAME.test(s)) fail(`${show(s)} is not a valid name: use 2 to 41 lowercase letters, digits and dashes, starting with a letter`)
  return s
}

/** `name_or_uid[:group_or_gid]`. */
const userSpec: Grammar<string> = v => {
  const s = asString(v)
  const parts = s.split(':')
  if (parts.length > 2) fail(`${show(s)} has more than two parts: expected user[:group]`)
  for (const p of parts) {
    if (p === '') fail(`${show(s)} has an empty part: expected user[:group]`)
    if (/^-\d+$/.test(p)) fail(`${show(s)}: a user or group id must not be negative`)
  }
  return s
}

const workingDir: Grammar<string> = v => {
  const s = asString(v)
  if (!s.startsWith('/') && s !== '~' && !s.startsWith('~/')) fail(`working_dir must be absolute, got ${show(s)}`)
  return s
}

export const PYTHON_VERSIONS = ['3.9', '3.10', '3.11', '3.12', '3.13', '3.14'] as const

/** YAML 1.1 reads `python: 3.10` as the float 3.1; dstack maps it back to "3.10". */
export const pythonVersion: Grammar<string> = v => {
  const s = typeof v === 'number' ? (v === 3.1 ? '3.10' : String(v)) : asString(v)
  if (!(PYTHON_VERSIONS as readonly string[]).includes(s)) fail(`unsupported Python version ${show(v)}: use one of ${PYTHON_VERSIONS.join(', ')}`)
  return s
}

const shell: Grammar<string> = v => {
  const s = asString(v)
  if (s === 'sh' || s === 'bash' || s.startsWith('/')) return s
  return fail(`unsupported shell ${show(s)}: use sh, bash or an absolute path to a shell`)
}

/** A string that may hold `${{ }}` templates of the given namespaces only. */
export function templated (namespaces: readonly string[]): Grammar<string> {
  return v => {
    const s = asString(v)
    checkTemplate(s, namespaces)
    return s
  }
}

const registryAuth = record({
  username: templated(['env', 'secrets']),
  password: templated(['env', 'secrets'])
})

export const resources: Grammar<ResourcesSpec> = v => {
  if (v === null) fail('must be a mapping, not null (are all of its keys commented out?)')
  return parseResources(v)
}

export function commands (namespaces: readonly string[]): Grammar<string[]> {
  return list(templated(namespaces), 'a list of commands')
}

/** Ports with duplicates rejected ("Port N is already in use"). */
export const ports: Grammar<PortMapping[]> = v => mergePorts(list(parsePortMapping)(v), [])

const env: Grammar<Record<string, string | null>> = v => {
  const parsed = parseEnv(v)
  const issues: ConfigIssue[] = []
  for (const [k, value] of Object.entries(parsed)) {
    if (value !== null) collect(issues, [k], () => checkTemplate(value, ['secrets']))
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return parsed
}

const repos = (v: unknown) => {
  const items = list(parseRepoSpec)(v)
  if (items.length > 1) fail('A maximum of one repo is currently supported')
  return items
}

export type RunType = 'task' | 'service' | 'dev-environment'

/** The fields every run type has. */
export function commonRunShape<T extends RunType> (type: T) {
  return {
    type: () => type,
    name: opt(runName, null),
    image: opt(v => asString(v), null),
    user: opt(userSpec, null),
    privileged: opt(asBool, false),
    working_dir: opt(workingDir, null),
    home_dir: opt(v => asString(v), '/root'),
    registry_auth: opt(registryAuth, null),
    python: opt(pythonVersion, null),
    nvcc: opt(asBool, null),
    docker: opt(asBool, null),
    single_branch: opt(asBool, type !== 'dev-environment'),
    env: opt(env, {}),
    shell: opt(shell, null),
    resources,
    priority: opt(v => asIntIn(v, 0, 100), 0),
    volumes: opt(list(parseMountPoint), []),
    repos: opt(repos, []),
    files: opt(list(parseFileMapping), []),
    dstack: opt(asBool, false),
    ...runProfileShape()
  }
}

/** The base-image alternatives that exclude one another (docker and nvcc only when true). */
export const EXCLUSIVE_IMAGE_SOURCES = [['image', 'python'], ['image', 'docker'], ['python', 'docker'], ['nvcc', 'docker']] as const

export function imageRules (raw: Record<string, unknown>): ConfigIssue[] {
  const issues = exclusive(raw, EXCLUSIVE_IMAGE_SOURCES, ['docker', 'nvcc'])
  if (raw.docker === true && raw.privileged === false) issues.push({ path: ['privileged'], message: '`privileged: false` cannot be combined with `docker: true` (Docker-in-Docker needs a privileged container)' })
  return issues
}

/** Defaults that depend on other fields: docker forces privileged; the shell follows the image. */
export function finishRun<T extends { docker: boolean | null, privileged: boolean, image: string | null, shell: string | null }> (out: T): T {
  if (out.docker === true) out.privileged = true
  if (out.shell === null) out.shell = out.image === null ? '/bin/bash' : '/bin/sh'
  return out
}

const GROUP_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/

/** Unnamed groups are named by their index; names must be valid and unique. */
export function nameGroups (groups: Array<{ name: string | null }>, path: Path): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const seen = new Set<string>()
  groups.forEach((g, i) => {
    if (g.name === null) g.name = String(i)
    else if (!GROUP_NAME.test(g.name)) issues.push({ path: [...path, i, 'name'], message: `${show(g.name)} is not a valid group name: lowercase letters, digits and dashes, at most 40` })
    if (seen.has(g.name)) issues.push({ path: [...path, i, 'name'], message: `group name ${show(g.name)} is used twice` })
    seen.add(g.name)
  })
  return issues
}
