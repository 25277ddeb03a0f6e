// `dstackd`: the daemon every GPU host runs (DESIGN.md, "Command-line contract").
import { VERSION } from './version.ts'

const HELP = `Usage: dstackd COMMAND [OPTIONS]

The dstackd daemon: one per host. Hosts form a mesh, gossip their inventory and elect a
leader that schedules work.

Commands:
  run      run the daemon in the foreground
           [--data-dir DIR] [--listen MULTIADDR]... [--join TOKEN] [--ssh-port N] [--name NAME]
  join     join a mesh with a token printed by \`dstackd token\`
  token    print the join token of the mesh DIR belongs to   [--data-dir DIR]
  status   this node: peer id, role, term, peers             [--data-dir DIR] [--json]

Options:
  -h, --help     show this help
  -v, --version  print the version

DIR defaults to ~/.dstack/dstackd.`

export async function main (argv: string[]): Promise<number> {
  const [command] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP)
    return command === undefined ? 2 : 0
  }
  if (command === '-v' || command === '--version') {
    console.log(`dstackd ${VERSION}`)
    return 0
  }
  if (['run', 'join', 'token', 'status'].includes(command)) {
    console.error(`dstackd ${command}: not available in this version yet (the daemon lands with the single-host release)`)
    return 1
  }
  console.error(`dstackd: unknown command "${command}". Run \`dstackd --help\` for the commands.`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
