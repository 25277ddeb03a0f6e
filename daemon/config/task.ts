// `type: task` (SPEC §1.2): commands, ports, and nodes or node groups.
import type { ConfigIssue } from './errors.ts'
import { asIntIn, asString } from './scalars.ts'
import { commands, commonRunShape, finishRun, imageRules, nameGroups, ports, resources } from './run.ts'
import { forbidding, given, isSet, list, opt, record, type Grammar } from './schema.ts'

const TASK_COMMAND_NAMESPACES = ['run', 'groups'] as const

const nodeGroup = record({
  name: opt(v => asString(v), null as string | null),
  nodes: opt(v => asIntIn(v, 1), 1),
  resources,
  commands: opt(commands(TASK_COMMAND_NAMESPACES), null as string[] | null),
  ports: opt(ports, [])
})

const shape = {
  ...commonRunShape('task'),
  entrypoint: opt(v => asString(v), null),
  commands: opt(commands(TASK_COMMAND_NAMESPACES), []),
  ports: opt(ports, []),
  nodes: opt(v => asIntIn(v, 1), null as number | null),
  groups: opt(list(nodeGroup), null)
}

type Task = { [K in keyof typeof shape]: ReturnType<typeof shape[K]> }

function taskRules (out: Task, raw: Record<string, unknown>): ConfigIssue[] {
  const issues = imageRules(raw)
  if (out.groups !== null) {
    if (isSet(raw, 'nodes')) issues.push({ path: ['nodes'], message: '`nodes` and `groups` are mutually exclusive: give each group its own `nodes`' })
    if (out.groups.length === 0) issues.push({ path: ['groups'], message: 'must list at least one group (or remove `groups`)' })
    for (const k of ['commands', 'ports', 'entrypoint'] as const) {
      if (given(raw, k)) issues.push({ path: [k], message: `\`${k}\` cannot be set at the top level when \`groups\` are used: set it in each group` })
    }
    issues.push(...nameGroups(out.groups, ['groups']))
    out.groups.forEach((g, i) => {
      if ((g.commands === null || g.commands.length === 0) && out.image === null) {
        issues.push({ path: ['groups', i, 'commands'], message: 'each group needs `commands` unless the task sets `image`' })
      }
    })
  } else {
    if (out.nodes === null) out.nodes = 1
    if (out.commands.length === 0 && out.image === null) issues.push({ path: ['commands'], message: 'Either `commands` or `image` must be set' })
  }
  return issues
}

export const parseTask: Grammar<Task> = v => finishRun(forbidding(record(shape, taskRules), {
  replicas: '`replicas` is for services: a task runs `nodes` (or node `groups`)'
})(v))

export type TaskConfiguration = ReturnType<typeof parseTask>
