// `dstackd`: the daemon every GPU host runs (DESIGN.md, "Command-line contract").
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { pidPathOf, socketPathOf, socketPathProblem } from './datadir.ts'
import { createLog, fileSink, stdoutSink, type LogSink } from './log.ts'
import { VERSION } from './version.ts'
import type { ApiClient } from './api/client.ts'
import type { ServerInfo } from './api/views.ts'

const HELP = `Usage: dstackd COMMAND [OPTIONS]

The dstackd daemon: one per host. It keeps the state of runs, runs jobs on this host and
serves the \`dstack\` client on DIR/api.sock.

Commands:
  run      run the daemon in the foreground, logging JSON lines to stdout
           [--data-dir DIR] [--name NAME] [--listen MULTIADDR]... [--join TOKEN]
           [--inventory FILE] [--mdns] [--unreachable-grace DURATION] [--ssh-port N]
           [--keep-runs N] [--keep-for DURATION] [--log-file FILE] [--jobs-dir DIR]
           [--runtime auto|docker|process] [--default-image IMAGE] [--image-table FILE]
  join     TOKEN [run's options]: join the mesh of a token printed by \`dstackd token\`
           on another host, and run (the same as \`dstackd run --join TOKEN\`)
  status   this node: peer id, role, term, leader, peers     [--data-dir DIR] [--json]
  token    print the join token of the mesh DIR belongs to   [--data-dir DIR]
  stop     stop the dstackd of DIR (the one the first \`dstack\` command started in the
           background, by default); its jobs keep running        [--data-dir DIR]
  user     add NAME [--project P --role R] | list | delete NAME | rotate-token NAME |
           add-key NAME FILE|- | keys NAME | delete-key NAME FINGERPRINT
  project  add NAME | list | delete NAME | member PROJECT USER --role R
           users and projects of the mesh (\`dstackd user --help\`)

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
  --unreachable-grace DURATION
                      how long the jobs of an unreachable host keep their status before they
                      fail with instance_unreachable and retry by policy (default 2m; 90s,
                      5m, 1h; the leader's setting applies)
  --keep-runs N       finished runs kept in the history, newest first (default 1000)
  --keep-for DURATION how long a finished run is kept, e.g. 7d, 12h (default 7d); older
                      runs are dropped with their logs on every host (the leader's setting
                      is the one that counts)
  --ssh-port N        the SSH gateway's port (default 10022; 0 picks a free one, which
                      \`dstackd status\` shows): \`ssh PROJECT/RUN@HOST -p N\` reaches a run's
                      job, and remote clients reach the API, with a user's token or key
  --log-file FILE     log there instead of stdout, rotated at 10 MB (FILE.1 … FILE.3 kept)
  --jobs-dir DIR      where job directories go, outside the data dir (default DIR-jobs next to
                      it; as root, /var/lib/dstackd-jobs/… when the job user cannot reach that)
  --runtime MODE      which jobs run in a container: auto (default) those whose configuration
                      sets image, docker or nvcc; docker every job; process none (the
                      container engine, DOCKER_HOST or /var/run/docker.sock, is not used)
  --default-image IMAGE
                      the image of container jobs that name none (default dstack's
                      dstackai/base:0.14-base-ubuntu24.04)
  --image-table FILE  images by need, JSON or YAML, every key optional: {"default": IMAGE,
                      "nvcc": IMAGE, "docker": IMAGE, "python": {"3.12": IMAGE}} (nvcc: true,
                      docker: true, python: 3.X); --default-image wins over its default

A node started without --join founds a mesh of its own; every other host joins it with the
token that \`dstackd token\` prints there. Voters (1, 3 or 5) are chosen automatically. Jobs run
as processes of this host and keep running when dstackd stops; a restarted dstackd re-adopts
them. As root, dstackd runs jobs as the unprivileged user dstack-job (created if missing) or
the configuration's \`user\`; otherwise jobs run as dstackd's own user and can read its keys.`

function dataDirOf (value: string | undefined): string {
  return resolve(value ?? process.env.DSTACKD_DATA_DIR ?? join(homedir(), '.dstack', 'dstackd'))
}

/** A duration flag's value in seconds; throws naming the flag. */
async function durationFlag (flag: string, value: string): Promise<number> {
  const { parseDuration } = await import('./config/index.ts')
  try {
    return parseDuration(value)
  } catch (err) {
    throw new Error(`--${flag} ${value}: ${(err as Error).message}`)
  }
}

/** --keep-runs and --keep-for over the defaults (daemon/state/retention.ts). */
async function retentionOf (keepRuns: string | undefined, keepFor: string | undefined): Promise<import('./state/retention.ts').Retention> {
  const { DEFAULT_RETENTION, retentionProblem } = await import('./state/retention.ts')
  const r = { ...DEFAULT_RETENTION }
  if (keepRuns !== undefined) {
    if (!/^\d+$/.test(keepRuns.trim())) throw new Error(`--keep-runs: expected a whole number of runs, got ${JSON.stringify(keepRuns)}`)
    r.keepRuns = Number(keepRuns)
  }
  if (keepFor !== undefined) r.keepForMs = await durationFlag('keep-for', keepFor) * 1000
  const problem = retentionProblem(r)
  if (problem !== null) throw new Error(`--${problem}`)
  return r
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
      'unreachable-grace': { type: 'string' },
      'jobs-dir': { type: 'string' },
      'ssh-port': { type: 'string' },
      'keep-runs': { type: 'string' },
      'keep-for': { type: 'string' },
      'log-file': { type: 'string' },
      runtime: { type: 'string' },
      'default-image': { type: 'string' },
      'image-table': { type: 'string' },
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
  let unreachableGrace: number | undefined
  let retention
  let images
  try {
    if (values['unreachable-grace'] !== undefined) {
      unreachableGrace = await durationFlag('unreachable-grace', values['unreachable-grace'])
      if (unreachableGrace < 1) throw new Error(`--unreachable-grace ${values['unreachable-grace']}: must be at least 1s`)
    }
    retention = await retentionOf(values['keep-runs'], values['keep-for'])
    const { loadImageTable } = await import('./agent/images.ts')
    images = await loadImageTable({ defaultImage: values['default-image'], file: values['image-table'] === undefined ? undefined : resolve(values['image-table']) })
  } catch (err) {
    console.error(`dstackd: ${(err as Error).message}`)
    return 2
  }
  const { RUNTIME_MODES } = await import('./agent/container.ts')
  const runtime = RUNTIME_MODES.find(m => m === (values.runtime ?? 'auto'))
  if (runtime === undefined) { console.error(`dstackd: --runtime ${values.runtime}: expected ${RUNTIME_MODES.join(', ')}`); return 2 }
  let sshPort: number | undefined
  if (values['ssh-port'] !== undefined) {
    sshPort = Number(values['ssh-port'])
    if (!/^\d{1,5}$/.test(values['ssh-port']) || sshPort > 65535) { console.error(`dstackd: --ssh-port ${values['ssh-port']}: expected a port number from 0 to 65535 (0: a free port)`); return 2 }
  }
  const dataDir = dataDirOf(values['data-dir'])
  const socketProblem = socketPathProblem(dataDir)
  if (socketProblem !== undefined) { console.error(`dstackd: ${socketProblem}`); return 2 }
  let sink: LogSink
  try {
    sink = values['log-file'] === undefined ? stdoutSink() : fileSink({ path: resolve(values['log-file']) })
  } catch (err) {
    console.error(`dstackd: --log-file: ${(err as Error).message}`)
    return 2
  }
  const log = createLog({ component: 'dstackd', sink })
  process.on('uncaughtException', err => log.error('uncaught exception (kept running)', { error: String(err), stack: err.stack }))
  process.on('unhandledRejection', err => log.error('unhandled rejection (kept running)', { error: String(err) }))
  const { startNode } = await import('./node.ts')
  const { removeProcessRecord, writeProcessRecord } = await import('./pidfile.ts')
  let node
  try {
    node = await startNode({
      dataDir, name: values.name, listen: values.listen, join: values.join?.trim(), inventoryFile: values.inventory, mdns: values.mdns === true,
      jobsDir: values['jobs-dir'] === undefined ? undefined : resolve(values['jobs-dir']), unreachableGrace, retention, runtime, images, sshPort, log
    })
    await writeProcessRecord(dataDir)
  } catch (err) {
    log.error('dstackd could not start', { error: (err as Error).message, dataDir })
    console.error(`dstackd: ${(err as Error).message}`)
    await node?.close().catch(() => {})
    // Whatever a half-started node left (a libp2p socket, a timer) must not keep a daemon alive
    // that serves nothing: the one who started it waits for it to answer or to exit.
    setTimeout(() => process.exit(1), 1000).unref()
    return 1
  }
  await new Promise<void>(done => {
    const stop = (signal: string) => {
      log.info('stopping (running jobs keep running)', { signal })
      void node.close().then(() => removeProcessRecord(dataDir)).catch(() => {}).finally(() => {
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
async function callLocal<T> (dataDir: string, ask: (client: ApiClient) => Promise<T>): Promise<T> {
  const problem = socketPathProblem(dataDir)
  if (problem !== undefined) throw new Error(problem)
  const { readFile } = await import('node:fs/promises')
  const { connectApi } = await import('./api/client.ts')
  const token = (await readFile(join(dataDir, 'token'), 'utf8')).trim()
  const client = await connectApi({ socketPath: socketPathOf(dataDir), token, timeoutMs: 3000 })
  try {
    return await ask(client)
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
  let info: ServerInfo
  try {
    info = await callLocal(dataDir, client => client.call('server.info'))
  } catch (err) {
    console.error(notRunning('status', dataDir, err))
    return 1
  }
  const c = info.cluster
  const out = {
    peer_id: info.node, role: c.role, term: c.term, leader: c.leader, voters: c.voters, learners: c.learners,
    applied: c.applied, commit: c.commit, addresses: c.addresses, peers: c.peers, version: info.version, data_dir: dataDir,
    ssh: info.ssh ?? null
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
    `ssh       ${out.ssh === null ? 'no gateway' : `port ${out.ssh.port}, host key ${out.ssh.hostKey}`}`,
    `version   ${out.version}`,
    `data dir  ${dataDir}`,
    `peers     ${c.peers.length === 0 ? 'none' : ''}`,
    ...c.peers.map(p => `  ${p.id}  ${(p.name ?? '?').padEnd(16)} ${p.role.padEnd(8)} ${p.alive ? 'alive' : 'silent'}`)
  ].join('\n'))
  return 0
}

async function token (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { console.log(HELP); return 0 }
  const dataDir = dataDirOf(values['data-dir'])
  try {
    // The running daemon knows the addresses it bound (port 0 picks one at start).
    console.log((await callLocal(dataDir, client => client.call('mesh.token'))).token)
    return 0
  } catch (err) {
    console.error(notRunning('token', dataDir, err))
    return 1
  }
}

/** Stops the dstackd of DIR: SIGTERM, then waits for it to be gone. Its jobs keep running. */
async function stop (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { console.log(HELP); return 0 }
  const dataDir = dataDirOf(values['data-dir'])
  const { isRunning, readProcessRecord } = await import('./pidfile.ts')
  const record = await readProcessRecord(dataDir)
  if (record === undefined || !isRunning(record)) {
    console.log(`No dstackd is running for ${dataDir}${record === undefined ? ` (no ${pidPathOf(dataDir)})` : ` (process ${record.pid} is gone)`}.`)
    return 0
  }
  try {
    process.kill(record.pid, 'SIGTERM')
  } catch (err) {
    console.error(`dstackd stop: cannot signal process ${record.pid} for ${dataDir}: ${(err as Error).message}`)
    return 1
  }
  const deadline = Date.now() + 30_000
  while (isRunning(record)) {
    if (Date.now() > deadline) {
      console.error(`dstackd stop: process ${record.pid} (${dataDir}) is still running 30 s after SIGTERM; see its log`)
      return 1
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  console.log(`Stopped dstackd (process ${record.pid}, data in ${dataDir}); its jobs keep running.`)
  return 0
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
  if (command === 'stop') return await stop(rest)
  if (command === 'user' || command === 'project') return await (await import('./users-cli.ts')).manage(command, rest, { dataDirOf, callLocal })
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
