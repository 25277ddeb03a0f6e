// `dstack ps` over ssh:// against the same over the Unix socket, in the same run: the remote
// client's cost (ssh2 loaded, an SSH handshake on loopback, the API on a channel) next to a
// local command's. Rounds alternate the two so both see the same load; the numbers are the
// median and p95 of the wall times of `dstack` run as an installed command (its bin executed
// as a program), with --runs N runs in the history.
// The SSH side is the daemon's own gateway (`--ssh-port 0`) when it has one (server.info
// says `ssh`), else the test gateway of test/e2e/ssh-gateway.ts piping the API channel to the
// daemon's socket (say which in the report).
// Usage: node --import tsx scripts/bench/remote.ts [--rounds N (20)] [--runs N (20)]
import { readFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseConfiguration } from '../../daemon/config/index.ts'
import { median, pct, timed } from './timed.ts'
import { apiClient, newHome, ROOT, startDaemon } from '../../test/e2e/harness.ts'
import { startTestGateway } from '../../test/e2e/ssh-gateway.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const ROUNDS = Number(flag('--rounds') ?? 20)
const RUNS = Number(flag('--runs') ?? 20)
const BIN = join(ROOT, 'tui', 'bin.js')

const d = await startDaemon({ args: ['--ssh-port', '0'] })
const client = await newHome()
let closeGateway = async (): Promise<void> => {}
try {
  const token = (await readFile(join(d.dataDir, 'token'), 'utf8')).trim()
  const c = await apiClient(d)
  const info = await c.call('server.info') as { ssh?: { port: number } }
  const configuration = parseConfiguration('type: task\ncommands: ["true"]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n')
  for (let i = 0; i < RUNS; i++) await c.call('runs.submit', { configuration: { ...configuration, name: `bench-remote-${i}` }, env: {} })
  await c.close()
  let port: number
  let gateway: string
  if (info.ssh !== undefined) {
    port = info.ssh.port
    gateway = 'the daemon\'s own gateway'
  } else {
    const gw = await startTestGateway({ socketPath: join(d.dataDir, 'api.sock'), token })
    closeGateway = gw.close
    port = gw.port
    gateway = 'the test gateway (piping to the socket: this daemon has no gateway yet)'
  }
  const remoteEnv = { ...client.env, DSTACK_URL: `ssh://127.0.0.1:${port}`, DSTACK_TOKEN: token }
  // The first use pins the host key; the benchmark measures later ones.
  for (const env of [d.env, remoteEnv]) {
    const r = await timed(BIN, ['ps', '-a'], env)
    if (r.code !== 0) throw new Error(`dstack ps failed: ${r.out}`)
  }
  const socket: number[] = []
  const ssh: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    for (const [env, into] of [[d.env, socket], [remoteEnv, ssh]] as const) {
      const r = await timed(BIN, ['ps', '-a'], env)
      if (r.code !== 0) throw new Error(`dstack ps failed: ${r.out}`)
      into.push(r.ms)
    }
  }
  const f = (x: number): string => x.toFixed(0)
  console.log(`dstack ps -a, ${RUNS} runs, ${ROUNDS} rounds; ssh:// through ${gateway}`)
  console.log(`  Unix socket: median ${f(median(socket))} ms, p95 ${f(pct(socket, 0.95))} ms`)
  console.log(`  ssh://:      median ${f(median(ssh))} ms, p95 ${f(pct(ssh, 0.95))} ms`)
  console.log(`  ratio (medians): ${(median(ssh) / median(socket)).toFixed(2)}x (target <= 1.5x)`)
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}, load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
} finally {
  await closeGateway()
  await d.cleanup()
  const { rm } = await import('node:fs/promises')
  await rm(client.home, { recursive: true, force: true })
}
