// `type: dev-environment` (SPEC §1.2): an IDE or plain SSH into a long-running container.
import { show, type ConfigIssue } from './errors.ts'
import { parseInactivityDuration } from './duration.ts'
import { asEnum, asString } from './scalars.ts'
import { commands, commonRunShape, finishRun, imageRules, ports } from './run.ts'
import { forbidding, isSet, opt, record, type Grammar } from './schema.ts'

export const IDES = ['vscode', 'cursor', 'windsurf', 'zed'] as const

const shape = {
  ...commonRunShape('dev-environment'),
  ide: opt(v => asEnum(v, IDES), null),
  version: opt(v => asString(v), null),
  init: opt(commands([]), []),
  setup: opt(commands([]), []),
  ports: opt(ports, []),
  inactivity_duration: parseInactivityDuration
}

type Parsed = { [K in keyof typeof shape]: ReturnType<typeof shape[K]> }

function rules (out: Parsed, raw: Record<string, unknown>): ConfigIssue[] {
  const issues = imageRules(raw)
  if (out.version !== null && out.ide === null) issues.push({ path: ['version'], message: '`version` needs `ide`' })
  if (out.ide === 'windsurf' && out.version !== null && !/^[^@]+@[0-9a-f]+$/.test(out.version)) {
    issues.push({ path: ['version'], message: `windsurf versions look like "1.2.3@<commit hash>", got ${show(out.version)}` })
  }
  if (out.dstack && isSet(raw, 'inactivity_duration') && out.inactivity_duration !== null) {
    issues.push({ path: ['inactivity_duration'], message: '`inactivity_duration` cannot be combined with `dstack: true`' })
  }
  return issues
}

export const parseDevEnvironment: Grammar<Parsed> = v => finishRun(forbidding(record(shape, rules), {
  commands: 'a dev environment runs `init` commands, not `commands` (use a task for a batch job)',
  entrypoint: 'a dev environment cannot set `entrypoint`',
  nodes: 'a dev environment runs on one node; use a task for `nodes`'
})(v))

export type DevEnvironmentConfiguration = ReturnType<typeof parseDevEnvironment>
