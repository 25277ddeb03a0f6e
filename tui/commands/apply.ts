// `dstack apply`: parse the configuration locally (every error with file:line:col), show the
// plan, confirm, submit, then follow the run until it ends (SPEC §3.9).
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import {
  ConfigError, interpolate, mergeEnv, parseEnvArg, parsePortMapping, parseRunConfiguration, readConfigurationFile, resolveEnv,
  type EnvSpec, type PortMapping, type RunConfiguration
} from '../../daemon/config/index.ts'
import { ApiError, type ApiClient } from '../../daemon/api/client.ts'
import type { ClientMethods } from '../../daemon/api/methods.ts'
import type { Plan } from '../../daemon/api/views.ts'
import { resolveRegistryAuth, type RegistryAuth } from '../../daemon/agent/registry-auth.ts'
import { RPC_ERRORS } from '../../mesh/rpc/protocol.ts'
import { attach, devEnvironmentText, ideWorkingDir, sshEntries } from '../attach.ts'
import { bindPorts, portRequests } from '../forward.ts'
import { collectCode, describeCode, type CodeFile } from '../code.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { confirm, price, readInput, table } from '../format.ts'
import { offerListing, planProperties, propertyLine } from '../listings.ts'
import { loadRunConfiguration, submissionOf } from '../submission.ts'
import { nonNegative, oneOf, parseFlags, wholeNumber, type Values } from '../flags.ts'
import { dim, red } from '../style.ts'

export const HELP = `Usage: dstack apply [-f FILE] [-y] [-d] [--force] [OPTIONS] [-- RUN_ARGS...]

Plans a configuration against the fleet, asks to confirm, submits it and, unless -d, follows
the run: status, then (once it runs) its ports forwarded to localhost, then its output until
it ends. Exits 0 only when the run is done. Either way \`ssh RUN\` works while the run lives
(entries in ~/.dstack/ssh/config); a dev environment prints its IDE link.
Ctrl+C asks whether to stop the run before detaching; a second Ctrl+C aborts it.

Options:
  -f, --file FILE          the configuration (default ./.dstack.yml, then ./.dstack.yaml; - reads stdin and needs -y)
  -y, --yes                do not ask for confirmation
  -d, --detach             submit and return without following the run
      --force              submit even when nothing changed
  -n, --name NAME          the run's name
  -e, --env K[=V]          set an environment variable (repeatable); a bare K takes it from this shell
  -p, --port MAP           forward a port, e.g. 8080, 8081:8080 or *:8080 (repeatable; a local port given must be free)
      --cpu SPEC  --gpu SPEC  --memory SPEC  --disk SPEC   override resources
      --max-offers N       offers shown in the plan (default 3)
      --profile NAME | --no-profile
      --max-price N  --max-duration D  --idle-duration D
      --spot | --on-demand | --spot-auto | --spot-policy P
      --retry | --no-retry | --retry-duration D
  -b, --backend B  -r, --region R  --instance-type T  --fleet F   (repeatable)
  -h, --help               show this help

Everything after -- is passed to the configuration as \${{ run.args }}.`

const OPTIONS = {
  file: { type: 'string', short: 'f' },
  yes: { type: 'boolean', short: 'y' },
  detach: { type: 'boolean', short: 'd' },
  force: { type: 'boolean' },
  name: { type: 'string', short: 'n' },
  env: { type: 'string', short: 'e', multiple: true },
  port: { type: 'string', short: 'p', multiple: true },
  cpu: { type: 'string' },
  gpu: { type: 'string' },
  memory: { type: 'string' },
  disk: { type: 'string' },
  'max-offers': { type: 'string', check: wholeNumber },
  profile: { type: 'string' },
  'no-profile': { type: 'boolean' },
  'max-price': { type: 'string', check: nonNegative },
  'max-duration': { type: 'string' },
  'idle-duration': { type: 'string' },
  spot: { type: 'boolean' },
  'on-demand': { type: 'boolean' },
  'spot-auto': { type: 'boolean' },
  'spot-policy': { type: 'string', check: oneOf('spot', 'on-demand', 'auto') },
  retry: { type: 'boolean' },
  'no-retry': { type: 'boolean' },
  'retry-duration': { type: 'string' },
  backend: { type: 'string', short: 'b', multiple: true },
  region: { type: 'string', short: 'r', multiple: true },
  'instance-type': { type: 'string', multiple: true },
  fleet: { type: 'string', multiple: true },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' }
} as const


/** Splits `args` at the first `--`: options before, run arguments after. */
export function splitRunArgs (argv: string[]): [string[], string[]] {
  const i = argv.indexOf('--')
  return i < 0 ? [argv, []] : [argv.slice(0, i), argv.slice(i + 1)]
}

/** POSIX shell quoting, so `${{ run.args }}` keeps each argument whole. */
export function shellJoin (args: string[]): string {
  return args.map(a => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`).join(' ')
}

function defaultFile (): string {
  for (const f of ['.dstack.yml', '.dstack.yaml']) {
    try { readFileSync(f); return f } catch { /* next */ }
  }
  throw new Error('no configuration file: pass -f FILE, or create .dstack.yml in this directory')
}

/** The command-line overrides, laid over the configuration and validated the same way. */
function withOverrides (c: RunConfiguration, v: Values<typeof OPTIONS>): RunConfiguration {
  const raw: Record<string, unknown> = JSON.parse(JSON.stringify(c))
  const resources = raw.resources as Record<string, unknown>
  if (v.cpu !== undefined) resources.cpu = v.cpu
  if (v.gpu !== undefined) resources.gpu = v.gpu
  if (v.memory !== undefined) resources.memory = v.memory
  if (v.disk !== undefined) resources.disk = v.disk
  if (v.name !== undefined) raw.name = v.name
  if (v['max-price'] !== undefined) raw.max_price = v['max-price']
  if (v['max-duration'] !== undefined) raw.max_duration = v['max-duration']
  if (v['idle-duration'] !== undefined) raw.idle_duration = v['idle-duration']
  if (v.spot) raw.spot_policy = 'spot'
  if (v['on-demand']) raw.spot_policy = 'on-demand'
  if (v['spot-auto']) raw.spot_policy = 'auto'
  if (v['spot-policy'] !== undefined) raw.spot_policy = v['spot-policy']
  if (v.retry) raw.retry = true
  if (v['no-retry']) raw.retry = false
  if (v['retry-duration'] !== undefined) raw.retry = { ...(typeof raw.retry === 'object' && raw.retry ? raw.retry : {}), duration: v['retry-duration'] }
  if (v.backend) raw.backends = v.backend
  if (v.region) raw.regions = v.region
  if (v['instance-type']) raw.instance_types = v['instance-type']
  if (v.fleet) raw.fleets = v.fleet
  if (v.port && 'ports' in raw) {
    const cli = v.port.map(p => parsePortMapping(p))
    const ports = (raw.ports as Array<{ container_port: number }>).filter(p => !cli.some(x => x.container_port === p.container_port))
    raw.ports = [...ports, ...cli]
  }
  try {
    return parseRunConfiguration(raw)
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`the command-line options do not fit the configuration:\n${err.message}`)
    throw err
  }
}

/** `${{ run.args }}` in commands, the job's env with pass-through names resolved (SPEC §1.6, §1.7). */
export function resolveForSubmit (c: RunConfiguration, cliEnv: string[], runArgs: string[]): { configuration: RunConfiguration, env: Record<string, string>, registryAuth: RegistryAuth | null } {
  const args = shellJoin(runArgs)
  const fill = (s: string) => interpolate(s, ref => {
    return ref.key === 'run.args' ? args : undefined
  })
  const out = JSON.parse(JSON.stringify(c)) as RunConfiguration
  if (out.type === 'task') {
    out.commands = out.commands.map(fill)
    for (const g of out.groups ?? []) if (g.commands) g.commands = g.commands.map(fill)
  } else if (out.type === 'service') {
    out.commands = out.commands.map(fill)
    if (Array.isArray(out.replicas)) for (const g of out.replicas) if (g.commands) g.commands = g.commands.map(fill)
  }
  const overrides: EnvSpec = Object.fromEntries(cliEnv.map(parseEnvArg))
  // Values taken from this shell or -e travel only as the job's env, never in the stored
  // configuration, so `run get` and plans do not show tokens passed through.
  const env = resolveEnv(mergeEnv(out.env, overrides), process.env)
  // `${{ env.X }}` in registry_auth comes from that env, and travels apart from the configuration too.
  return { configuration: out, env, registryAuth: resolveRegistryAuth(out, env) }
}

export function formatPlan (c: RunConfiguration, plan: Plan, maxOffers: number, duration: (s: number) => string): string {
  const lines = planProperties(c, plan, duration).map(propertyLine)
  lines.push('')
  if (plan.offers.length === 0) {
    lines.push(red('No offers match the requirements.'))
    for (const r of plan.rejected) lines.push(dim(`  ${r.instance}: ${r.reason}`))
  } else {
    const l = offerListing(plan.offers.slice(0, maxOffers))
    if (plan.offers.length > maxOffers) l.rows.push(['...', '', '', '', '', ''])
    lines.push(table(l.headers, l.rows))
    if (plan.offers.length > maxOffers) lines.push(dim(`Shown ${maxOffers} of ${plan.total_offers} offers, ${price(Math.max(...plan.offers.map(o => o.price)))} max`))
  }
  return lines.join('\n')
}

/** Submits a resolved run configuration and follows it: shared by `apply` and `run WORKFLOW`. */
export async function submitRun (client: ApiClient, a: {
  configuration: RunConfiguration, env: Record<string, string>, registryAuth?: RegistryAuth | null, configurationPath: string | null,
  workflow?: ClientMethods['runs.submit']['params']['workflow'], code: CodeFile[], yes: boolean, detach: boolean, force: boolean, maxOffers: number,
  /** `-p` mappings: their local ports must be free (the configuration's own may move up). */
  ports?: PortMapping[]
}): Promise<number> {
  const c = a.configuration
  // An attached run's local ports asked for explicitly are taken before anything is submitted:
  // one in use stops the apply here. The others are taken once the run runs (a job on this
  // host listens on its own port first; the forward then moves up). `attach` releases them.
  const requests = !a.detach && 'ports' in c ? portRequests(c.ports, a.ports ?? [], c.name ?? 'the run') : []
  const bound = await bindPorts(requests.filter(r => r.exact))
  let attached = false
  try {
    const code = await submitAndReport(client, a, c)
    if (typeof code === 'number') return code
    attached = true
    return await attach(client, code.name, { configuration: c, bound, later: requests.filter(r => !r.exact) })
  } finally {
    if (!attached) for (const b of bound) b.server.close()
  }
}

/** Plans, confirms and submits; the run to attach to, or the exit code when there is none. */
async function submitAndReport (client: ApiClient, a: Parameters<typeof submitRun>[1], c: RunConfiguration): Promise<number | { name: string }> {
  const { formatDuration } = await import('../../daemon/config/index.ts')
  const submission = submissionOf(a)
  // With -y no one is asked between the plan and the submission: one round trip does both.
  // Should the submission fail, the plan is asked for on its own, so that the output is the
  // same either way: the plan, then the error. A daemon older than `runs.apply` gets the two
  // calls.
  let applied = null
  let failure: unknown = null
  if (a.yes) {
    try {
      applied = await client.call('runs.apply', submission)
    } catch (err) {
      if (!(err instanceof ApiError && err.code === RPC_ERRORS.unknownMethod)) failure = err
    }
  }
  const plan = applied?.plan ?? await client.call('runs.plan', { configuration: a.configuration })
  process.stdout.write(formatPlan(a.configuration, plan, a.maxOffers, formatDuration) + '\n\n')
  const existing = plan.existing
  if (existing?.kind === 'unchanged' && !a.force) {
    process.stdout.write(`Run ${existing.name} is ${existing.status} and nothing changed. Use --force to apply anyway.\n`)
    return 0
  }
  if (existing?.kind === 'impossible') {
    process.stderr.write(red(`Cannot override active run ${existing.name}. Stop the run first (\`dstack stop ${existing.name}\`). ${existing.reason ?? ''}\n`))
    return 1
  }
  const question = existing ? `Update the run ${existing.name}? (changes: ${existing.changes.join(', ')})` : a.configuration.name ? `Submit the run ${a.configuration.name}?` : 'Submit a new run?'
  if (!a.yes && !(await confirm(question))) return 1
  if (a.code.length > 0) process.stderr.write(dim(`Uploading the code (${describeCode(a.code)})\n`))
  if (failure !== null) throw failure
  const { run, action } = applied ?? await client.call('runs.submit', submission)
  // `runs.apply` refuses only what the plan above said it would (`existing` impossible).
  if (run === null) return 1
  if (action === 'updated') {
    process.stdout.write(`Run ${run.name} updated\n`)
    return 0
  }
  if (a.detach) {
    process.stdout.write(`Run ${run.name} submitted\n`)
    // `ssh RUN` works as soon as the run does, with nothing left running here.
    const alias = await sshEntries(client, run)
    if (c.type === 'dev-environment' && alias !== null) process.stdout.write('\n' + devEnvironmentText(c.ide, alias, await ideWorkingDir(c)))
    return 0
  }
  return run
}

/** `apply -d -y` of a file: a submission that asks nothing, reads no standard input and does not follow the run. */
export function oneShot (argv: string[]): boolean {
  const { values: v } = parseFlags(splitRunArgs(argv)[0], OPTIONS, { positionals: true })
  return v.detach === true && v.yes === true && v.help !== true && v.file !== '-'
}

export async function apply (argv: string[], g: GlobalOptions): Promise<number> {
  const [own, runArgs] = splitRunArgs(argv)
  const { values: v } = parseFlags(own, OPTIONS, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  const file = v.file ?? defaultFile()
  if (file === '-' && !v.yes) throw new Error('-f - reads the configuration from standard input, so it needs -y')
  const text = readInput(file)
  // An SSH fleet is applied (its hosts bootstrapped), not run: tui/commands/fleet-apply.ts.
  if (/^type:\s*['"]?fleet\b/m.test(text)) {
    const { parseConfiguration } = await import('../../daemon/config/index.ts')
    const c = parseConfiguration(text, { file: file === '-' ? '<stdin>' : file })
    if (c.type === 'fleet' && c.ssh_config !== null) {
      const { applySshFleet } = await import('./fleet-apply.ts')
      const client = await connect(g)
      try {
        return await applySshFleet(client, c, { base: file === '-' ? process.cwd() : dirname(resolve(file)), yes: v.yes === true })
      } finally {
        await client.close()
      }
    }
  }
  const parsed = loadRunConfiguration(file, { cwd: process.cwd(), profile: v.profile, noProfile: v['no-profile'], text })
  const configuration = withOverrides(parsed, v)
  const resolved = resolveForSubmit(configuration, v.env ?? [], runArgs)
  const code = await collectCode(configuration, file === '-' ? process.cwd() : dirname(resolve(file)))
  const client = await connect(g)
  try {
    return await submitRun(client, {
      configuration: resolved.configuration, env: resolved.env, registryAuth: resolved.registryAuth, configurationPath: file === '-' ? null : resolve(file), code,
      yes: v.yes === true, detach: v.detach === true, force: v.force === true, maxOffers: Number(v['max-offers'] ?? 3),
      ports: (v.port ?? []).map(p => parsePortMapping(p))
    })
  } finally {
    await client.close()
  }
}
