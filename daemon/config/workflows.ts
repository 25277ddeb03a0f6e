// The older workflow format (SPEC §7): `.dstack/workflows.yaml` lists named workflows that
// `dstack run NAME` starts. Each maps onto a task; artifacts and cached folders ride beside it.
import { ConfigError, fail, show, type ConfigIssue } from './errors.ts'
import { parseEnv } from './env.ts'
import { asBool, asIntIn, asString, isMapping } from './scalars.ts'
import { collect, list, opt, record, type Grammar } from './schema.ts'
import { pythonVersion } from './run.ts'
import { parseTask, type TaskConfiguration } from './task.ts'
import type { PortMapping } from './types.ts'

/** Where the repository sits inside a workflow's job; working_dir is relative to it. */
export const WORKFLOW_REPO_DIR = '/workflow'

/** A folder inside the repository, written relative to it. */
const relativeFolder: Grammar<string> = v => {
  const s = asString(v)
  const parts = s.split('/').filter(p => p !== '' && p !== '.')
  if (s.startsWith('/') || s.startsWith('~')) fail(`${show(s)} must be relative to the repository`)
  if (parts.includes('..')) fail(`${show(s)} must stay inside the repository (no "..")`)
  return parts.length === 0 ? '.' : parts.join('/')
}

/** `APP_PORT:LOCAL_PORT` or `APP_PORT` (any free local port): the reverse of the newer `L:C`. */
const workflowPort: Grammar<PortMapping> = v => {
  const s = typeof v === 'number' ? String(v) : asString(v)
  const m = /^(\d+)(?::(\d+))?$/.exec(s.trim())
  if (!m) fail(`expected APP_PORT or APP_PORT:LOCAL_PORT, got ${show(v)}`)
  const app = asIntIn(m[1], 1, 65535)
  const local = m[2] === undefined ? null : asIntIn(m[2], 1, 65535)
  if (app >= 10000 && app <= 10999) fail(`port ${app} is reserved for dstack (10000-10999)`)
  return { local_port: local, container_port: app }
}

const gpu = (v: unknown) => typeof v === 'number' || typeof v === 'string'
  ? v
  : record({ count: opt(x => x, null), memory: opt(x => x, null), name: opt(x => asString(x), null) })(v)

const resources = record({
  cpu: opt(x => x, null),
  memory: opt(x => x, null),
  gpu: opt(gpu, null),
  shm_size: opt(x => x, null),
  interruptible: opt(asBool, false)
})

const workflow = record({
  name: v => asString(v),
  provider: v => {
    if (v !== 'bash') fail(`only the "bash" provider is supported, got ${show(v)}`)
    return 'bash' as const
  },
  python: opt(pythonVersion, null),
  commands: v => {
    const items = list(x => asString(x), 'a list of commands')(v)
    if (items.length === 0) fail('must list at least one command')
    return items
  },
  env: opt(parseEnv, {}),
  working_dir: opt(relativeFolder, '.'),
  ports: opt(list(workflowPort), []),
  ssh: opt(asBool, false),
  artifacts: opt(list(record({ path: relativeFolder, mount: opt(asBool, false) })), []),
  cache: opt(list(record({ path: relativeFolder })), []),
  resources: opt(resources, null)
})

export type Workflow = ReturnType<typeof workflow>

export interface WorkflowTask {
  workflow: Workflow
  task: TaskConfiguration
}

/** The whole file: `workflows: [...]`, names unique. */
export const parseWorkflows: Grammar<Workflow[]> = v => {
  const { workflows } = record({ workflows: list(workflow) })(v)
  const seen = new Set<string>()
  const issues: ConfigIssue[] = []
  workflows.forEach((w, i) => {
    if (seen.has(w.name)) issues.push({ path: ['workflows', i, 'name'], message: `workflow ${show(w.name)} is defined twice` })
    seen.add(w.name)
  })
  if (issues.length > 0) throw new ConfigError(issues)
  return workflows
}

/** A workflow as the task it runs: interruptible is spot; the rest carries over field by field. */
export function workflowToTask (w: Workflow): TaskConfiguration {
  const r = w.resources
  const gpuSpec = r?.gpu === null || r?.gpu === undefined ? undefined
    : typeof r.gpu === 'object' ? Object.fromEntries(Object.entries(r.gpu).filter(([, x]) => x !== null)) : r.gpu
  const raw: Record<string, unknown> = {
    type: 'task',
    python: w.python,
    commands: w.commands,
    env: w.env,
    working_dir: w.working_dir === '.' ? WORKFLOW_REPO_DIR : `${WORKFLOW_REPO_DIR}/${w.working_dir}`,
    ports: w.ports,
    resources: r === null ? undefined : Object.fromEntries(Object.entries({
      cpu: r.cpu, memory: r.memory, gpu: gpuSpec, shm_size: r.shm_size
    }).filter(([, x]) => x !== null && x !== undefined)),
    spot_policy: r?.interruptible === true ? 'spot' : 'on-demand'
  }
  const issues: ConfigIssue[] = []
  const task = collect(issues, [], () => parseTask(raw))
  // The only fields that can still fail here are the resources, which sit at the same path.
  if (task === undefined) throw new ConfigError(issues)
  return task
}

export function isWorkflowsDocument (v: unknown): boolean {
  return isMapping(v) && 'workflows' in v && !('type' in v)
}
