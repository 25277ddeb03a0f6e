// SSH fleets against real OpenSSH servers (test/e2e/sshd.ts): `dstack apply` of a fleet with
// ssh_config bootstraps each host with the bundled dstackd over SFTP and the host joins the
// mesh in the fleet; a host with a wrong key, one that is unreachable and one whose sudo asks
// for a password each fail with their cause and fix while the others join; a `nodes: 3` task
// naming the fleet runs on its three hosts; `fleet delete` removes what was installed.
import * as assert from 'uvu/assert'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { sshdMissing, sshLan } from './sshd.ts'
import { suiteNeeding } from '../skip.ts'

const test = suiteNeeding(import.meta.url, 'root, iproute2, sshd and sudo', sshdMissing())

// Hosts 2–6: three good ones (one per key type, the third reached only through host 5 as a
// bastion), the bastion itself (listed again with a key it refuses), one whose sudo asks for a password.
const net = sshLan(63, [{ key: 'ed25519' }, { key: 'rsa' }, { key: 'ecdsa' }, { key: 'ed25519' }, { sudo: 'password' }])
let ctl: Daemon
let dir: string

test.before(async () => {
  await net.setup()
  dir = await mkdtemp(join(tmpdir(), 'dsf-fleet-'))
  ctl = await startDaemon({ name: 'ctl', ...net.lan.where(1) })
})

test.after(async () => {
  await ctl?.cleanup()
  await net.teardown()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function fleetYaml (): string {
  const [a, b, c, bastion, sudo] = net.hosts
  return `type: fleet
name: dsf-gpus
env:
  - FLEET_NOTE=from-the-fleet
ssh_config:
  hosts:
    - { hostname: ${a!.address}, user: ${a!.user}, identity_file: ${a!.key} }
    - { hostname: ${b!.address}, user: ${b!.user}, identity_file: ${b!.key} }
    - hostname: ${c!.address}
      user: ${c!.user}
      identity_file: ${c!.key}
      proxy_jump: { hostname: ${bastion!.address}, user: ${bastion!.user}, identity_file: ${bastion!.key} }
    - { hostname: ${bastion!.address}, user: ${bastion!.user}, identity_file: ${net.strangerKey} }
    - { hostname: ${sudo!.address}, user: ${sudo!.user}, identity_file: ${sudo!.key} }
    - { hostname: ${net.lan.address(9)}, user: ${a!.user}, identity_file: ${a!.key} }
`
}

test('apply: good hosts join, each bad host fails with its cause and fix', async () => {
  const file = await writeConfig(dir, 'fleet.dstack.yml', fleetYaml())
  const r = await dstack(ctl, ['apply', '-f', file, '-y'], { timeoutMs: 180_000 })
  const [a, b, c, bastion, sudo] = net.hosts
  assert.is(r.code, 1, r.stdout + r.stderr)
  for (const h of [a!, b!, c!]) assert.match(r.stdout, new RegExp(`${h.user}@${h.address.replaceAll('.', '\\.')}  joined`), r.stdout + r.stderr)
  assert.match(r.stdout, /uploading (0|100)%/)
  assert.match(r.stderr, new RegExp(`${bastion!.user}@.*the key was refused for user ${bastion!.user}`))
  assert.match(r.stderr, new RegExp(`${sudo!.user}@.*sudo asks for a password — give \`${sudo!.user}\` passwordless sudo or connect as root`))
  assert.match(r.stderr, /\.19.*is unreachable/)
  assert.match(r.stdout, /Fleet dsf-gpus: 3 host\(s\) joined, 3 failed/)
  const f = await dstack(ctl, ['fleet', 'get', 'dsf-gpus', '--json'])
  assert.is(f.code, 0, f.stderr)
  const fleet = JSON.parse(f.stdout)
  assert.is(fleet.instances.length, 3)
  assert.ok(fleet.instances.every((i: { backend: string }) => i.backend === 'ssh'), f.stdout)
})

test('a nodes: 3 task naming the fleet runs on its three hosts, with the fleet\'s env', async () => {
  const file = await writeConfig(dir, 'task.dstack.yml', `type: task
name: dsf-ranks
nodes: 3
fleets: [dsf-gpus]
commands:
  - echo "rank=$DSTACK_NODE_RANK ips=$DSTACK_NODES_IPS note=$FLEET_NOTE host=$(hostname)"
`)
  const r = await dstack(ctl, ['apply', '-f', file, '-y'], { timeoutMs: 180_000 })
  assert.is(r.code, 0, r.stdout + r.stderr)
  const hosts = new Set<string>()
  for (const rank of [0, 1, 2]) {
    // A job's output comes through its pseudo-terminal: lines end in \r\n.
    const out = (await dstack(ctl, ['logs', 'dsf-ranks', '--job', String(rank)])).stdout.replaceAll('\r', '')
    const m = /rank=(\d) ips=([\d.\n]+) note=(\S*) host=(\S+)/.exec(out)
    assert.ok(m, out)
    assert.is(m![1], String(rank))
    assert.equal(m![2]!.trim().split('\n').sort(), net.hosts.slice(0, 3).map(h => h.address).sort())
    assert.is(m![3], 'from-the-fleet')
    hosts.add(m![4]!)
  }
  assert.equal([...hosts].sort(), ['dsfhost2', 'dsfhost3', 'dsfhost4'])
})

test('fleet delete stops the daemons and removes what was installed', async () => {
  const [a, b, c] = net.hosts
  for (const h of [a!, b!, c!]) assert.ok(existsSync(join(h.home, '.dstack', 'fleet-dsf-gpus')), `installed on ${h.address}`)
  const r = await dstack(ctl, ['fleet', 'delete', 'dsf-gpus', '-y'], { timeoutMs: 120_000 })
  assert.is(r.code, 0, r.stdout + r.stderr)
  for (const h of [a!, b!, c!]) assert.equal(readdirSync(join(h.home, '.dstack')), [], `left on ${h.address}`)
  const f = await dstack(ctl, ['fleet', '--json'])
  assert.not.ok(JSON.parse(f.stdout).fleets.some((x: { name: string }) => x.name === 'dsf-gpus'), f.stdout)
})

test.run()
