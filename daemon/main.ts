// `dstackd`: the daemon every GPU host runs (DESIGN.md, "Command-line contract").
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VERSION } from './version.ts'

const HELP = `Usage: dstackd COMMAND [OPTIONS]

The dstackd daemon: one per host. It keeps the state of runs, runs jobs on this host and
serves the \`dstack\` client on DIR/api.sock.

Commands:
  run      run the daemon in the foreground, logging JSON lines to stdout
           [--data-dir DIR] [--name NAME] [--listen MULTIADDR]... [--join TOKEN] [--ssh-port N]
  status   this node: id, role, term, peers                  [--data-dir DIR] [--json]
  token    print the join token of the mesh DIR belongs to   [--data-dir DIR]
  join     join a mesh with a token printed by \`dstackd token\`

Options:
  -h, --help     show this help
  -v, --version  print the version

DIR defaults to ~/.dstack/dstackd. Jobs run as processes of this host and keep running when
dstackd stops; a restarted dstackd re-adopts them.`

function dataDirOf (value: string | undefined): string {
  return resolve(value ?? process.env.DSTACKD_DATA_DIR ?? join(homedir(), '.dstack', 'dstackd'))
}

function log (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + '\n')
}

async function run (argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      name: { type: 'string' },
      listen: { type: 'string', multiple: true },
      join: { type: 'string' },
      'ssh-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) { console.log(HELP); return 0 }
  if (values.join || values.listen) {
    console.error('dstackd run: --listen and --join need the mesh, which this version does not have yet; run without them for a single host')
    return 2
  }
  process.on('uncaughtException', err => log('error', 'uncaught exception (kept running)', { error: String(err), stack: err.stack }))
  process.on('unhandledRejection', err => log('error', 'unhandled rejection (kept running)', { error: String(err) }))
  const { startNode } = await import('./node.ts')
  const dataDir = dataDirOf(values['data-dir'])
  let node
  try {
    node = await startNode({ dataDir, name: values.name, log })
  } catch (err) {
    log('error', 'dstackd could not start', { error: (err as Error).message, dataDir })
    console.error(`dstackd: ${(err as Error).message}`)
    return 1
  }
  await new Promise<void>(done => {
    const stop = (signal: string) => {
      log('info', 'stopping (running jobs keep running)', { signal })
      void node.close().finally(done)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  return 0
}

async function status (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { console.log(HELP); return 0 }
  const dataDir = dataDirOf(values['data-dir'])
  const { readFile } = await import('node:fs/promises')
  const { connectApi } = await import('./api/client.ts')
  try {
    const token = (await readFile(join(dataDir, 'token'), 'utf8')).trim()
    const client = await connectApi({ socketPath: join(dataDir, 'api.sock'), token, timeoutMs: 3000 })
    const info = await client.call<Record<string, unknown>>('server.info')
    await client.close()
    const out = { peer_id: info.node, name: (client.server as { name?: string }).name ?? null, role: info.role, term: 0, peers: [], version: info.version, log_index: info.index, data_dir: dataDir }
    if (values.json) console.log(JSON.stringify(out, null, 2))
    else {
      console.log(`peer id   ${out.peer_id}\nname      ${out.name}\nrole      ${out.role} (single node)\nterm      ${out.term}\npeers     none\nlog index ${out.log_index}\nversion   ${out.version}\ndata dir  ${dataDir}`)
    }
    return 0
  } catch (err) {
    console.error(`dstackd status: no dstackd answers for ${dataDir} (${(err as Error).message}). Start one with \`dstackd run --data-dir ${dataDir}\`.`)
    return 1
  }
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP)
    return command === undefined ? 2 : 0
  }
  if (command === '-v' || command === '--version') {
    console.log(`dstackd ${VERSION}`)
    return 0
  }
  if (command === 'run') return await run(rest)
  if (command === 'status') return await status(rest)
  if (command === 'token' || command === 'join') {
    console.error(`dstackd ${command}: joining hosts into a mesh is not available in this version yet; a single dstackd serves this host`)
    return 1
  }
  console.error(`dstackd: unknown command "${command}". Run \`dstackd --help\` for the commands.`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
