// A network of hosts for the e2e tests: one network namespace per host, each on a bridge the
// test makes, as several machines on one LAN. Needs root and iproute2: a suite asks
// `netnsMissing()` first and skips, loudly, where this machine has neither (test/skip.ts).
// Only addresses inside these namespaces are ever a target.
import { execFileSync } from 'node:child_process'
import type { Placement } from './cluster.ts'

export interface Lan {
  /** Where host i (1-based) runs: its namespace as a command prefix, its mesh address. */
  where (i: number, port?: number): Placement
  /** Host i's address on the bridge. */
  address (i: number): string
  /** Unplugs (or plugs back) host i's cable. */
  cut (i: number): void
  heal (i: number): void
  /** Makes the namespaces and the bridge; throws (after cleaning up) where it cannot. */
  setup (): void
  teardown (): void
}

/** Why this machine cannot make network namespaces (not root, no iproute2), or null when it can. */
export function netnsMissing (): string | null {
  if (process.getuid?.() !== 0) return 'not running as root'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    return `\`ip netns\` does not work here (iproute2 missing?): ${(err as Error).message.split('\n')[0]}`
  }
  return null
}

function sh (...argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
}
function quiet (...argv: string[]): void {
  try { sh(...argv) } catch { /* already gone */ }
}

/**
 * `hosts` namespaces on a bridge, addresses 10.<tag>.0.1<i>/24. The names carry this process's
 * id as well, so two test runs on one machine (or two suites) never take down each other's
 * LAN: the addresses live only inside the namespaces and may repeat. Interface names stay
 * within Linux's 15 characters.
 */
export function lan (tag: number, hosts: number): Lan {
  const id = `${tag}${(process.pid % 46656).toString(36)}`
  const bridge = `dsbr${id}`
  const ns = (i: number) => `ds${id}n${i}`
  const veth = (i: number) => `ds${id}v${i}`
  const address = (i: number) => `10.${tag}.0.1${i}`
  const teardown = (): void => {
    for (let i = 1; i <= hosts; i++) quiet('ip', 'netns', 'del', ns(i))
    quiet('ip', 'link', 'del', bridge)
    quiet('iptables', '-D', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT')
  }
  return {
    where: (i, port = 10100) => ({ listen: `/ip4/${address(i)}/tcp/${port}`, prefix: ['ip', 'netns', 'exec', ns(i)] }),
    address,
    cut: i => sh('ip', 'link', 'set', veth(i), 'down'),
    heal: i => quiet('ip', 'link', 'set', veth(i), 'up'),
    setup () {
      teardown()
      try {
        sh('ip', 'link', 'add', bridge, 'type', 'bridge')
        sh('ip', 'link', 'set', bridge, 'up')
        for (let i = 1; i <= hosts; i++) {
          sh('ip', 'netns', 'add', ns(i))
          sh('ip', 'link', 'add', veth(i), 'type', 'veth', 'peer', 'name', `${veth(i)}p`)
          sh('ip', 'link', 'set', `${veth(i)}p`, 'netns', ns(i))
          sh('ip', 'link', 'set', veth(i), 'master', bridge)
          sh('ip', 'link', 'set', veth(i), 'up')
          sh('ip', 'netns', 'exec', ns(i), 'ip', 'addr', 'add', `${address(i)}/24`, 'dev', `${veth(i)}p`)
          sh('ip', 'netns', 'exec', ns(i), 'ip', 'link', 'set', `${veth(i)}p`, 'up')
          sh('ip', 'netns', 'exec', ns(i), 'ip', 'link', 'set', 'lo', 'up')
          // Multicast (mDNS) goes out on the bridge, never anywhere else.
          sh('ip', 'netns', 'exec', ns(i), 'ip', 'route', 'add', '224.0.0.0/4', 'dev', `${veth(i)}p`)
        }
        // A Docker engine's FORWARD policy drops bridged traffic (STACK.md); allow ours.
        quiet('iptables', '-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT')
      } catch (err) {
        teardown()
        // uvu swallows what a before hook throws: say it here too.
        const message = `network namespaces for the test LAN: ${(err as Error).message.split('\n')[0]}`
        console.error(message)
        throw new Error(message)
      }
    },
    teardown
  }
}
