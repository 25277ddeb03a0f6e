// `dstack validate FILE...`: parse configurations locally and show what dstack would run,
// or every mistake with file:line:col. No daemon needed.
import { readFileSync, statSync } from 'node:fs'
import {
  ConfigError, formatResources, isWorkflowsDocument, loadYaml, parseRunConfiguration, parseWorkflows,
  readConfigurationFile, selectProfile, workflowToTask, type RunConfiguration
} from '../../daemon/config/index.ts'
import { bold, dim, green, red } from '../style.ts'
import { errorText, readInput } from '../format.ts'
import { parseFlags } from '../flags.ts'

export const HELP = `Usage: dstack validate [-f FILE]... [FILE]... [--json] [--profile NAME | --no-profile]

Judges each configuration (.dstack.yml, or an older .dstack/workflows.yaml) exactly as
\`dstack apply\` will, and prints what it describes, or every mistake with file:line:col
(a valid dstack configuration this version does not run yet is refused, saying why).
Without a file, reads ./.dstack.yml (or ./.dstack.yaml).

Options:
  -f, --file FILE    a configuration file (repeatable; - reads standard input)
      --json         print the normalized configurations as JSON
      --profile NAME use this profile from profiles.yml
      --no-profile   ignore profiles.yml
  -h, --help         show this help`

function summary (c: RunConfiguration): string {
  switch (c.type) {
    case 'task': return `task (nodes=${c.nodes ?? c.groups?.reduce((n, g) => n + g.nodes, 0)})  ${formatResources(c.resources)}`
    case 'service': return `service (port ${c.port.container_port})  ${formatResources(c.resources)}`
    case 'dev-environment': return `dev-environment (${c.ide ?? 'ssh'})  ${formatResources(c.resources)}`
  }
}

function defaultFile (): string {
  for (const f of ['.dstack.yml', '.dstack.yaml']) {
    try { statSync(f); return f } catch { /* try the next */ }
  }
  throw new Error('no configuration given and none found: pass -f FILE (or create .dstack.yml)')
}

export async function validate (argv: string[], _g?: unknown): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    file: { type: 'string', short: 'f', multiple: true },
    json: { type: 'boolean' },
    profile: { type: 'string' },
    'no-profile': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  }, { positionals: true })
  if (values.help) { console.log(HELP); return 0 }
  const files = [...(values.file ?? []), ...positionals]
  if (files.length === 0) files.push(defaultFile())
  const results: Array<{ file: string, configuration?: unknown, errors?: string[] }> = []
  let failed = 0
  for (const file of files) {
    try {
      const text = readConfigurationFile(file)
      const name = file === '-' ? '<stdin>' : file
      const doc = loadYaml(text, name)
      if (isWorkflowsDocument(doc.value)) {
        let workflows
        try { workflows = parseWorkflows(doc.value) } catch (err) {
          throw err instanceof ConfigError ? new ConfigError(doc.locate(err.issues), name) : err
        }
        for (const w of workflows) {
          const task = parseRunConfiguration(workflowToTask(w)) as ReturnType<typeof workflowToTask>
          results.push({ file: `${name}#${w.name}`, configuration: { workflow: w, task } })
          if (!values.json) console.log(`${green('✓')} ${bold(`${name}#${w.name}`)}  ${dim(`task (workflow)  ${formatResources(task.resources)}`)}`)
        }
        continue
      }
      const profile = selectProfile({
        cwd: process.cwd(),
        name: values.profile ?? process.env.DSTACK_PROFILE ?? null,
        disabled: values['no-profile'] === true || Boolean(process.env.DSTACK_NO_PROFILE)
      })
      const configuration = parseRunConfiguration(text, { file: name, profile })
      results.push({ file: name, configuration })
      if (!values.json) console.log(`${green('✓')} ${bold(name)}  ${dim(summary(configuration))}`)
    } catch (err) {
      failed++
      const lines = err instanceof ConfigError ? err.issues.length ? err.message.split('\n') : [err.message] : [errorText(err as Error)]
      results.push({ file, errors: lines })
      if (!values.json) {
        console.error(`${red('✗')} ${file}`)
        for (const line of lines) console.error(`  ${red(line)}`)
      }
    }
  }
  if (values.json) console.log(JSON.stringify(results, null, 2))
  return failed === 0 ? 0 : 1
}
