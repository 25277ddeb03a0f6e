// The time from `dstack apply` of a 3-host SSH fleet to every host joined (issue 14's target:
// ≤ 10 s with the bundle already on the hosts, ≤ 30 s cold), against real sshd hosts in network
// namespaces (test/e2e/sshd.ts; needs root, iproute2, sshd and sudo: scripts/ci/sshd.sh).
// Cold: nothing on the hosts (the bundle is uploaded). Warm: three other hosts with this
// version's bundle there already, so only connecting, checking, starting and joining count. Usage: node --import tsx scripts/bench/fleet.ts
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, startDaemon, writeConfig } from '../../test/e2e/harness.ts'
import { sshdMissing, sshLan } from '../../test/e2e/sshd.ts'
import { dstackdBundle } from '../../drivers/backends/ssh/bundle.ts'
import { median } from './timed.ts'

const missing = sshdMissing()
if (missing !== null) {
  console.error(`fleet bench: cannot run here: ${missing}`)
  process.exit(2)
}
const net = sshLan(64, [{ key: 'ed25519' }, { key: 'rsa' }, { key: 'ecdsa' }, { key: 'ed25519' }, { key: 'rsa' }, { key: 'ecdsa' }])
await net.setup()
const dir = await mkdtemp(join(tmpdir(), 'dsf-bench-'))
let ctl: Awaited<ReturnType<typeof startDaemon>> | undefined
const cold: number[] = []
const warm: number[] = []
try {
  ctl = await startDaemon({ name: 'ctl', ...net.lan.where(1) })
  const bundle = await dstackdBundle()
  const fleetFile = (name: string, hosts: typeof net.hosts) => writeConfig(dir, `${name}.dstack.yml`, `type: fleet
name: ${name}
ssh_config:
  hosts:
${hosts.map(h => `    - { hostname: ${h.address}, user: ${h.user}, identity_file: ${h.key} }`).join('\n')}
`)
  const apply = async (file: string): Promise<number> => {
    const t0 = performance.now()
    const r = await dstack(ctl!, ['apply', '-f', file, '-y'], { timeoutMs: 300_000 })
    const ms = performance.now() - t0
    if (r.code !== 0 || !/3 host\(s\) joined/.test(r.stdout)) throw new Error(`apply failed:\n${r.stdout}${r.stderr}`)
    return ms
  }
  // Cold: hosts 1–3, nothing there. Warm: hosts 4–6 with this version's bundle put where apply looks.
  cold.push(await apply(await fleetFile('dsf-cold', net.hosts.slice(0, 3))))
  for (const h of net.hosts.slice(3)) {
    const target = join(h.home, '.dstack', 'fleet-dsf-warm', 'bundles', bundle.hash)
    await mkdir(target, { recursive: true })
    execFileSync('tar', ['-xzf', bundle.path, '-C', target])
    execFileSync('chown', ['-R', `${h.user}:${h.user}`, join(h.home, '.dstack')])
  }
  warm.push(await apply(await fleetFile('dsf-warm', net.hosts.slice(3))))
  const f = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(1)} s (${xs.map(x => (x / 1000).toFixed(1)).join(', ')})`
  console.log('apply of a 3-host SSH fleet to all joined:')
  console.log(`  cold (bundle uploaded, ${Math.round(execFileSync('stat', ['-c', '%s', bundle.path]).toString().trim() as unknown as number / 1024)} KB): ${f(cold)}   target ≤ 30 s`)
  console.log(`  warm (bundle there):          ${f(warm)}   target ≤ 10 s`)
} finally {
  await ctl?.cleanup()
  await net.teardown()
  await rm(dir, { recursive: true, force: true })
}
