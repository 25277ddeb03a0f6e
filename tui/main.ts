// `dstack`: the client. One-shot subcommands with dstack's syntax; each loads only what it
// needs, so a command such as `dstack ps` starts fast.
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { VERSION } from '../daemon/version.ts'
import type { GlobalOptions } from './connect.ts'
import { errorText } from './format.ts'
import { red } from './style.ts'

const HELP = `Usage: dstack [--url URL] [--token TOKEN] [--project NAME] COMMAND ...
       dstack [--readonly]   (on a terminal: the full-screen app)

dstackd's client: dstack's commands and configuration files, no central server. With nothing
configured, the first command starts a local dstackd for this host. With no command on a
terminal, it opens the full-screen app (runs, logs, …; \`?\` lists the keys).

Commands:
  apply       plan, submit and follow a configuration (.dstack.yml)
  attach      forward a running run's ports to localhost and set up \`ssh RUN\`
  ps          list runs
  logs        print a run's output
  stop        stop or abort runs
  run         \`run get NAME\`, or start a workflow of the older format: \`run WORKFLOW\`
  offer       what the fleet could run a configuration on
  fleet       fleets and their instances
  event       the audit stream
  artifacts   list or download a workflow run's artifacts
  project     the projects of ~/.dstack/config.yml: list, add, delete, set-default
  validate    check configuration files (no daemon needed)

Options:
  --readonly       the app only: stop, abort, shell and apply are disabled
  --url URL        the daemon's socket (default ~/.dstack/dstackd/api.sock), or a node's
                   SSH gateway: ssh://[user@]host[:port] (port 10022; env DSTACK_URL)
  --token TOKEN    the user token (env DSTACK_TOKEN; a local socket's token is found by itself)
  --project NAME   the project (default: config.yml's default; env DSTACK_PROJECT)
  -h, --help       show this help (also: dstack COMMAND --help)
  -v, --version    print the version`

type Command = (argv: string[], g: GlobalOptions) => Promise<number>

const COMMANDS: Record<string, () => Promise<Command>> = {
  apply: async () => (await import('./commands/apply.ts')).apply,
  attach: async () => (await import('./commands/attach.ts')).attachCommand,
  ps: async () => (await import('./commands/ps.ts')).ps,
  logs: async () => (await import('./commands/logs.ts')).logs,
  stop: async () => (await import('./commands/stop.ts')).stop,
  run: async () => (await import('./commands/run.ts')).run,
  offer: async () => (await import('./commands/offer.ts')).offer,
  fleet: async () => (await import('./commands/fleet.ts')).fleet,
  event: async () => (await import('./commands/event.ts')).event,
  artifacts: async () => (await import('./commands/artifacts.ts')).artifacts,
  validate: async () => (await import('./commands/validate.ts')).validate,
  project: async () => (await import('./commands/project.ts')).project
}

/** Takes --url, --token and --project out of argv (before any `--`), wherever they stand. */
export function globalOptions (argv: string[]): [GlobalOptions, string[]] {
  const g: GlobalOptions = {}
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') { rest.push(...argv.slice(i)); break }
    const m = /^--(url|token|project)(?:=(.*))?$/.exec(a)
    if (!m) { rest.push(a); continue }
    const value = m[2] ?? argv[++i]
    if (value === undefined) throw new Error(`--${m[1]} needs a value`)
    g[m[1] as keyof GlobalOptions] = value
  }
  return [g, rest]
}

/** The full-screen app (tui/app/): ink and react load only now. */
async function app (g: GlobalOptions, readonly: boolean): Promise<number> {
  let client
  try {
    client = await (await import('./connect.ts')).connect(g)
  } catch (err) {
    console.error(red(`dstack: ${errorText(err as Error)}`))
    return 1
  }
  try {
    const openApp = await (await import('./app/load.ts')).loadApp()
    return await openApp(client, { readonly })
  } finally {
    await client.close()
  }
}

export async function main (argv: string[]): Promise<number> {
  let g: GlobalOptions
  let rest: string[]
  try {
    [g, rest] = globalOptions(argv)
  } catch (err) {
    console.error(red(`dstack: ${(err as Error).message}`))
    return 2
  }
  // `dstack` alone on a terminal: the full-screen app.
  if (rest.every(a => a === '--readonly') && process.stdin.isTTY && process.stdout.isTTY) return await app(g, rest.length > 0)
  const [command, ...args] = rest
  if (command === undefined || command === '--readonly' || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP)
    return command === undefined || command === '--readonly' ? 2 : 0
  }
  if (command === '-v' || command === '--version') {
    console.log(`dstack ${VERSION}`)
    return 0
  }
  const load = COMMANDS[command]
  if (!load) {
    console.error(red(`dstack: unknown command "${command}". Run \`dstack --help\` for the commands.`))
    return 2
  }
  try {
    return await (await load())(args, g)
  } catch (err) {
    const e = err as Error & { code?: string }
    // Leaving a stream with Ctrl+C is how watching ends, not a failure.
    if (e.code === 'cancelled') return 0
    if (e.name === 'UsageError') {
      console.error(red(`dstack ${command}: ${e.message}`) + `\nRun \`dstack ${command} --help\` for its options.`)
      return 2
    }
    // A configuration's issues already name the file, line and field.
    console.error(red(e.name === 'ConfigError' ? e.message : `dstack ${command}: ${errorText(e)}`))
    return 1
  }
}

/**
 * The commands whose command lines may run in the resident client (tui/resident.cjs), each
 * saying which: those that ask nothing, read no standard input and follow nothing, as scripts
 * run them one after another (`apply -d -y`, `ps`, `logs` without -f, `event` without -w).
 */
const ONE_SHOT: Record<string, () => Promise<(argv: string[]) => boolean>> = {
  apply: async () => (await import('./commands/apply.ts')).oneShot,
  ps: async () => (await import('./commands/ps.ts')).oneShot,
  logs: async () => (await import('./commands/logs.ts')).oneShot,
  event: async () => (await import('./commands/event.ts')).oneShot
}

/** Whether the resident client may run this command line in its process (ONE_SHOT). */
export async function residentServes (argv: string[]): Promise<boolean> {
  try {
    const [command, ...args] = globalOptions(argv)[1]
    const oneShot = command !== undefined && Object.hasOwn(ONE_SHOT, command) ? ONE_SHOT[command] : undefined
    return oneShot !== undefined && (await oneShot())(args)
  } catch {
    return false
  }
}

// Run as a program (a bundle of this file started by `node`); tui/bin.js calls main itself.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  void main(process.argv.slice(2)).then(code => { process.exitCode = code })
}
