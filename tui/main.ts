// `dstack`: the client. One-shot subcommands with dstack's syntax; the full-screen app and the
// daemon-backed commands arrive with the daemon.
import { VERSION } from '../daemon/version.ts'
import { red } from './style.ts'

const HELP = `Usage: dstack [--url SOCKET_OR_MULTIADDR] [--token TOKEN] [--project NAME] COMMAND ...

dstackd's client: dstack's commands and configuration files, no central server.

Commands:
  validate   check configuration files and show what they describe (no daemon needed)

Coming with the daemon: apply, ps, logs, stop, attach, offer, fleet, volume, gateway, event.

Options:
  -h, --help     show this help (also: dstack COMMAND --help)
  -v, --version  print the version`

const COMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  validate: async () => (await import('./commands/validate.ts')).validate
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP)
    return command === undefined ? 2 : 0
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
    return await (await load())(rest)
  } catch (err) {
    console.error(red(`dstack ${command}: ${(err as Error).message}`))
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
