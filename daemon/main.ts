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
           [--data-dir DIR] [--name NAME] [--listen MULTIADDR]... [--join TOKEN]
           [--inventory FILE] [--mdns] [--ssh-port N] [--jobs-dir DIR]
  join     TOKEN [run's options]: join the mesh of a token printed by \`dstackd token\`
           on another host, and run (the same as \`dstackd run --join TOKEN\`)
  status   this node: peer id, role, term, leader, peers     [--data-dir DIR] [--json]
  token    print the join token of the mesh DIR belongs to   [--data-dir DIR]

Options:
  -h, --help     show this help
  -v, --version  print the version

Run options:
  --data-dir DIR      where this node keeps its state (default ~/.dstack/dstackd)
  --name NAME         this host's name in \`dstack fleet\` (default: the hostname)
  --listen MULTIADDR  the mesh address, repeatable (default /ip4/0.0.0.0/tcp/10100; port 0
                      picks a free port, and the join token carries the port bound)
  --join TOKEN        join that mesh (the token is remembered: later starts need no --join)
  --inventory FILE    a JSON object overriding detected resources, e.g. {"cpus": 8}
  --mdns              also find the hosts of this mesh on the local network by mDNS (they
                      still need its swarm key: a host of another mesh is never let in)
  --jobs-dir DIR      where job directories go, outside the data dir (default DIR-jobs next to
                      it; as root, /var/lib/dstackd-jobs/… when the job user cannot reach that)

A node started without --join founds a mesh of its own; every other host joins it with the
token that \`dstackd token\` prints there. Voters (1, 3 or 5) are chosen automatically. Jobs run
as processes of this host and keep running when dstackd stops; a restarted dstackd re-adopts
them. As root, dstackd runs jobs as the unprivileged user dstack-job (created if missing) or
the configuration's \`user\`; otherwise jobs run as dstackd's own user and can read its keys.`

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
      inventory: { type: 'string' },
      mdns: { type: 'boolean' },
      'jobs-dir': { type: 'string' },
      'ssh-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) { console.log(HELP); return 0 }
  if (values.join !== undefined) {
    const { parseJoinToken } = await import('../mesh/token.ts')
    try {
      parseJoinToken(values.join.trim())
    } catch (err) {
      console.error(`dstackd: ${(err as Error).message}`)
      return 2
    }
  }
  process.on('uncaughtException', err => log('error', 'uncaught exception (kept running)', { error: String(err), stack: err.stack }))
  process.on('unhandledRejection', err => log('error', 'unhandled rejection (kept running)', { error: String(err) }))
  const { startNode } = await import('./node.ts')
  const dataDir = dataDirOf(values['data-dir'])
  let node
  try {
    node = await startNode({ dataDir, name: values.name, listen: values.listen, join: values.join?.trim(), inventoryFile: values.inventory, mdns: values.mdns === true, jobsDir: values['jobs-dir'] === undefined ? undefined : resolve(values['jobs-dir']), log })
  } catch (err) {
    log('error', 'dstackd could not start', { error: (err as Error).message, dataDir })
    console.error(`dstackd: ${(err as Error).message}`)
    return 1
  }
  await new Promise<void>(done => {
    const stop = (signal: string) => {
      log('info', 'stopping (running jobs keep running)', { signal })
      void node.close().finally(() => {
        // Closed: the state is on disk and the jobs run on without us. Whatever still holds the
        // event loop (a re-adopted job's exit watcher, a socket closing) must not keep a stopped
        // daemon alive; a second lets the last log lines out.
        setTimeout(() => process.exit(0), 1000).unref()
        done()
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  return 0
}

/** A call to this host's dstackd over its socket, with the admin token from DIR. */
async function callLocal<T> (dataDir: string, method: string): Promise<T> {
  const { readFile } = await import('node:fs/promises')
  const { connectApi } = await import('./api/client.ts')
  const token = (await readFile(join(dataDir, 'token'), 'utf8')).trim()
  const client = await connectApi({ socketPath: join(dataDir, 'api.sock'), token, timeoutMs: 3000 })
  try {
    return await client.call<T>(method)
  } finally {
    await client.close()
  }
}

const notRunning = (command: string, dataDir: string, err: unknown): string =>
  `dstackd ${command}: no dstackd answers for ${dataDir} (${(err as Error).message}). Start one with \`dstackd run --data-dir ${dataDir}\`.`

async function status (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { console.log(HELP); return 0 }
  const dataDir = dataDirOf(values['data-dir'])
  let info: { node: string, version: string, index: number, cluster: ClusterStatus }
  try {
    info = await callLocal(dataDir, 'server.info')
  } catch (err) {
    console.error(notRunning('status', dataDir, err))
    return 1
  }
  const c = info.cluster
  const out = {
    peer_id: info.node, role: c.role, term: c.term, leader: c.leader, voters: c.voters, learners: c.learners,
    applied: c.applied, commit: c.commit, addresses: c.addresses, peers: c.peers, version: info.version, data_dir: dataDir
  }
  if (values.json) {
    console.log(JSON.stringify(out, null, 2))
    return 0
  }
  console.log([
    `peer id   ${out.peer_id}`,
    `role      ${out.role}`,
    `term      ${out.term}`,
    `leader    ${out.leader ?? 'none known'}`,
    `log       applied ${out.applied}, committed ${out.commit}`,
    `listening ${out.addresses.join(', ') || 'nowhere'}`,
    `version   ${out.version}`,
    `data dir  ${dataDir}`,
    `peers     ${c.peers.length === 0 ? 'none' : ''}`,
    ...c.peers.map(p => `  ${p.id}  ${(p.name ?? '?').padEnd(16)} ${p.role.padEnd(8)} ${p.alive ? 'alive' : 'silent'}`)
  ].join('\n'))
  return 0
}

interface ClusterStatus {
  role: string, term: number, leader: string | null, applied: number, commit: number, voters: string[], learners: string[],
  addresses: string[], peers: Array<{ id: string, name: string | null, role: string, alive: boolean }>
}

async function token (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { console.log(HELP); return 0 }
  const dataDir = dataDirOf(values['data-dir'])
  try {
    // The running daemon knows the addresses it bound (port 0 picks one at start).
    console.log((await callLocal<{ token: string }>(dataDir, 'mesh.token')).token)
    return 0
  } catch (err) {
    console.error(notRunning('token', dataDir, err))
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
  if (command === 'token') return await token(rest)
  if (command === 'join') {
    const [joinToken, ...more] = rest
    if (joinToken === undefined || joinToken.startsWith('-')) {
      if (joinToken === '-h' || joinToken === '--help') { console.log(HELP); return 0 }
      console.error('dstackd join: give the token that `dstackd token` prints on a host of the mesh: dstackd join TOKEN [--data-dir DIR] ...')
      return 2
    }
    return await run(['--join', joinToken, ...more])
  }
  console.error(`dstackd: unknown command "${command}". Run \`dstackd --help\` for the commands.`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
