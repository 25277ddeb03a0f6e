// From a run configuration to its jobs (SPEC §3.6, §3.7): one job per node per replica, ranked
// contiguously across groups, each with the command the runtime executes.
import type { RunConfiguration } from '../config/index.ts'
import type { JobSpec } from './types.ts'

const SHELLS: Record<string, string> = { sh: '/bin/sh', bash: '/bin/bash' }

/** `c1 && c2 && …`, with a command ending in `&` wrapped as `{ cmd & }` so it runs in the background. */
export function joinCommands (commands: readonly string[]): string {
  return commands.map(c => {
    const t = c.trim()
    return t.endsWith('&') && !t.endsWith('&&') ? `{ ${t} }` : t
  }).join(' && ')
}

/** POSIX shell word splitting for `entrypoint` (quotes and backslashes, no expansions). */
export function shellSplit (s: string): string[] {
  const out: string[] = []
  let word: string | null = null
  let quote: '"' | "'" | null = null
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (quote === "'") { if (c === "'") quote = null; else word += c; continue }
    if (quote === '"') {
      if (c === '"') quote = null
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) word += s[++i]
      else word += c
      continue
    }
    if (/\s/.test(c)) { if (word !== null) { out.push(word); word = null } continue }
    word ??= ''
    if (c === "'" || c === '"') quote = c
    else if (c === '\\' && i + 1 < s.length) word += s[++i]
    else word += c
  }
  if (quote) throw new Error(`unterminated ${quote} quote in ${JSON.stringify(s)}`)
  if (word !== null) out.push(word)
  return out
}

function command (c: RunConfiguration, commands: readonly string[]): string[] {
  const shell = SHELLS[c.shell ?? 'bash'] ?? c.shell ?? '/bin/bash'
  if (c.type === 'dev-environment') {
    // `init` first; then it waits, reached through the node's SSH gateway, until stopped.
    const hint = 'echo "dev environment ready: \\`ssh $DSTACK_RUN_NAME\\` connects to it, \\`dstack stop $DSTACK_RUN_NAME\\` ends it."'
    return [shell, '-c', joinCommands([...c.setup, ...c.init, hint, 'tail -f /dev/null'])]
  }
  const entrypoint = c.entrypoint === null ? [] : shellSplit(c.entrypoint)
  if (entrypoint.length > 0) return [...entrypoint, ...commands]
  // With an image and neither, the image's own ENTRYPOINT and CMD run (SPEC §3.7): an empty command.
  if (commands.length === 0 && c.image !== null) return []
  if (commands.length === 0) throw Object.assign(new Error('nothing to run: the configuration needs `commands` (or an `image` whose own command runs)'), { code: 'invalid' })
  return [shell, '-c', joinCommands(commands)]
}

export interface JobTemplate { spec: JobSpec }

/** The jobs of a new run, in rank order. */
export function jobSpecsFor (c: RunConfiguration, env: Record<string, string>): JobSpec[] {
  const base = (commands: readonly string[], resources = c.resources, ports = 'ports' in c ? c.ports : []) => ({
    command: command(c, commands),
    env,
    working_dir: c.working_dir,
    resources,
    max_duration: c.max_duration,
    stop_duration: c.stop_duration,
    retry: c.retry,
    ports,
    image: c.image
  })
  const specs: JobSpec[] = []
  if (c.type === 'task') {
    const groups = c.groups ?? [{ name: null, nodes: c.nodes ?? 1, commands: c.commands, resources: c.resources, ports: c.ports }]
    const total = groups.reduce((n, g) => n + g.nodes, 0)
    for (const g of groups) {
      for (let i = 0; i < g.nodes; i++) {
        specs.push({ job_num: specs.length, replica_num: 0, jobs_per_replica: total, job_name: '', group: g.name, ...base(g.commands ?? c.commands, g.resources, g.ports) })
      }
    }
  } else if (c.type === 'service') {
    const groups = Array.isArray(c.replicas)
      ? c.replicas.map(g => ({ name: g.name, count: g.count.min ?? 0, commands: g.commands ?? c.commands, resources: g.resources }))
      : [{ name: null, count: c.replicas.min ?? 0, commands: c.commands, resources: c.resources }]
    let replica = 0
    for (const g of groups) {
      for (let i = 0; i < g.count; i++) {
        specs.push({ job_num: 0, replica_num: replica++, jobs_per_replica: 1, job_name: '', group: g.name, ...base(g.commands, g.resources, []) })
      }
    }
  } else {
    specs.push({ job_num: 0, replica_num: 0, jobs_per_replica: 1, job_name: '', group: null, ...base([]) })
  }
  return specs
}
