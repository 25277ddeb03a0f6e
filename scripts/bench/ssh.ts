// `ssh RUN true` with the stock OpenSSH client through a node's gateway, next to the same
// client against a stock sshd on loopback (what a user would otherwise reach a GPU box with),
// in the same run, rounds alternating: the wall time of one whole `ssh` command (key
// exchange, key auth, a channel, the command, its exit). Three targets: a process job on the
// node the client talks to; the same job reached through another node of a 2-node mesh
// (relayed over /dstack/exec/1.0.0); and, with an engine, a container job (docker exec).
// Usage: node --import tsx scripts/bench/ssh.ts [--rounds N (20)]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { dstackd, startCluster, type Host } from '../../test/e2e/cluster.ts'
import { freePort, gatewayPort, runningTarget, runProgram } from '../../test/e2e/sessions.ts'
import { median, pct } from './timed.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const ROUNDS = Number(flag('--rounds') ?? 20)
const RESOURCES = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

const work = await mkdtemp(join(tmpdir(), 'dstackd-bench-ssh-'))
let hosts: Host[] = []
let sshd: ChildProcess | undefined
try {
  const key = join(work, 'id_ed25519')
  const k = await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
  if (k.code !== 0) throw new Error(`ssh-keygen: ${k.stderr}`)
  const base = ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR']

  // The stock sshd beside it: its own config, host key and authorized_keys, on a free loopback port.
  const sshdPort = await freePort()
  const hostKey = join(work, 'ssh_host_ed25519_key')
  await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  const { readFile, mkdir } = await import('node:fs/promises')
  await writeFile(join(work, 'authorized_keys'), await readFile(`${key}.pub`, 'utf8'))
  await writeFile(join(work, 'sshd_config'), [
    `Port ${sshdPort}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `AuthorizedKeysFile ${join(work, 'authorized_keys')}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'UsePAM no', 'StrictModes no',
    `PidFile ${join(work, 'sshd.pid')}`, ''
  ].join('\n'))
  await mkdir('/run/sshd', { recursive: true })
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(work, 'sshd_config')], { stdio: 'ignore' })
  const user = (await runProgram('id', ['-un'])).stdout.trim()

  hosts = await startCluster(2, {}, {}, ['--ssh-port', '0'])
  const added = await dstackd(['user', 'add-key', 'admin', `${key}.pub`, '--data-dir', hosts[0]!.dataDir], hosts[0]!.env)
  if (added.code !== 0) throw new Error(`dstackd user add-key: ${added.stderr}${added.stdout}`)
  const target = await runningTarget(hosts[0]!, work, 'bench-ssh', `type: task\ncommands: [sleep 3600]\n${RESOURCES}`)
  const statuses = await Promise.all(hosts.map(h => h.status()))
  const own = hosts[statuses.findIndex(s => s.peer_id === target.node)]!
  const other = hosts[statuses.findIndex(s => s.peer_id !== target.node)]!

  const cases: Array<{ name: string, argv: string[], times: number[] }> = [
    { name: 'stock sshd on loopback', argv: [...base, '-p', String(sshdPort), `${user}@127.0.0.1`, 'true'], times: [] },
    { name: 'gateway, process job on the same node', argv: [...base, '-p', String(gatewayPort(own)), 'main/bench-ssh@127.0.0.1', 'true'], times: [] },
    { name: 'gateway, process job on another node (relayed)', argv: [...base, '-p', String(gatewayPort(other)), 'main/bench-ssh@127.0.0.1', 'true'], times: [] }
  ]
  const engine = await runProgram('docker', ['info', '--format', '{{.ServerVersion}}'])
  if (engine.code === 0) {
    await runningTarget(hosts[0]!, work, 'bench-ssh-box', `type: task\nimage: local/busybox:latest\ncommands: [sleep 3600]\n${RESOURCES}`)
    cases.push({ name: 'gateway, container job (docker exec)', argv: [...base, '-p', String(gatewayPort(own)), 'main/bench-ssh-box@127.0.0.1', 'true'], times: [] })
  }
  // A first round not counted (the daemon's and sshd's first connection).
  for (const c of cases) {
    const r = await runProgram('ssh', c.argv)
    if (r.code !== 0) throw new Error(`${c.name}: ssh exited ${r.code}: ${r.stderr}`)
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const c of cases) {
      const t0 = process.hrtime.bigint()
      const r = await runProgram('ssh', c.argv)
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      if (r.code !== 0) throw new Error(`${c.name}: ssh exited ${r.code}: ${r.stderr}`)
      c.times.push(ms)
    }
  }
  const f = (x: number): string => x.toFixed(0)
  console.log(`ssh TARGET true, stock OpenSSH client, ${ROUNDS} rounds (target for the gateway: <= 300 ms)`)
  for (const c of cases) console.log(`  ${c.name.padEnd(48)} median ${f(median(c.times))} ms, p95 ${f(pct(c.times, 0.95))} ms`)
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}, load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
} finally {
  sshd?.kill()
  await Promise.all(hosts.map(h => h.cleanup()))
  await rm(work, { recursive: true, force: true })
}
