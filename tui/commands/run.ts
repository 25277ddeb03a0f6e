// `dstack run get NAME --json`: one run in full. `dstack run WORKFLOW`: start a workflow of the
// older format (.dstack/workflows.yaml or .dstack/workflows/*.yaml), followed like `apply`.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadYaml, parseWorkflows, workflowToTask, type Workflow } from '../../daemon/config/index.ts'
import { collectCode } from '../code.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { parseFlags, UsageError } from '../flags.ts'
import { resolveForSubmit, shellJoin, splitRunArgs, submitRun } from './apply.ts'

export const HELP = `Usage: dstack run get NAME [--json]
       dstack run WORKFLOW [-y] [-d] [-e K[=V]]... [-- ARGS...]

run get     shows one run with its jobs and configuration
run NAME    starts the workflow NAME of .dstack/workflows.yaml (the older dstack format),
            then follows it like \`dstack apply\`; its artifacts are listed and downloaded
            with \`dstack artifacts\`

Options:
  -y, --yes      do not ask for confirmation
  -d, --detach   submit and return
  -e, --env K=V  set an environment variable (repeatable)
      --json     (run get) print JSON
  -h, --help     show this help`

/** Every workflow defined under .dstack/ in `dir`, with the file each came from. */
export function loadWorkflows (dir: string): Array<{ workflow: Workflow, file: string }> {
  const files: string[] = []
  for (const f of ['workflows.yaml', 'workflows.yml']) {
    try { readFileSync(join(dir, '.dstack', f)); files.push(join(dir, '.dstack', f)) } catch { /* absent */ }
  }
  try {
    for (const f of readdirSync(join(dir, '.dstack', 'workflows')).sort()) if (/\.ya?ml$/.test(f)) files.push(join(dir, '.dstack', 'workflows', f))
  } catch { /* absent */ }
  const out: Array<{ workflow: Workflow, file: string }> = []
  for (const file of files) {
    const doc = loadYaml(readFileSync(file, 'utf8'), file)
    try {
      for (const w of parseWorkflows(doc.value)) out.push({ workflow: w, file })
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(doc.locate(err.issues), file)
      throw err
    }
  }
  return out
}

export async function run (argv: string[], g: GlobalOptions): Promise<number> {
  const [own, runArgs] = splitRunArgs(argv)
  const { values: v, positionals } = parseFlags(own, {
    yes: { type: 'boolean', short: 'y' }, detach: { type: 'boolean', short: 'd' }, env: { type: 'string', short: 'e', multiple: true },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
  }, { positionals: true })
  if (v.help || positionals.length === 0) { console.log(HELP); return v.help ? 0 : 2 }
  if (positionals[0] === 'get') {
    const name = positionals[1]
    if (!name) throw new UsageError('which run? Usage: dstack run get NAME [--json]')
    const client = await connect(g)
    try {
      const view = await client.call('runs.get', { name })
      console.log(JSON.stringify(view, null, 2))
      return 0
    } finally {
      await client.close()
    }
  }
  const wanted = positionals[0]!
  const found = loadWorkflows(process.cwd())
  if (found.length === 0) throw new Error('no .dstack/workflows.yaml here: `dstack run NAME` starts a workflow of the older format; use `dstack apply` for .dstack.yml files')
  const hit = found.find(f => f.workflow.name === wanted)
  if (!hit) throw new Error(`no workflow named ${wanted}; defined: ${found.map(f => f.workflow.name).join(', ')}`)
  const w = hit.workflow
  const task = workflowToTask(w)
  // Arguments after -- go to the workflow's last command, as the older CLI passed them.
  const commands = runArgs.length > 0 ? task.commands.map((c, i) => i === task.commands.length - 1 ? `${c} ${shellJoin(runArgs)}` : c) : task.commands
  const resolved = resolveForSubmit({ ...task, commands }, v.env ?? [], [])
  // The directory holding .dstack/ is the workflow's repository: its files go along.
  const code = await collectCode(resolved.configuration, process.cwd(), process.cwd())
  const client = await connect(g)
  try {
    return await submitRun(client, {
      configuration: resolved.configuration, env: resolved.env, configurationPath: hit.file,
      workflow: { name: w.name, artifacts: w.artifacts, cache: w.cache }, code,
      yes: v.yes === true, detach: v.detach === true, force: false, maxOffers: 3
    })
  } finally {
    await client.close()
  }
}
