// Real OpenSSH servers for the SSH fleet suites: host i is an sshd in network namespace i of a
// test LAN (netns.ts), logged into as a user of its own (so its own home: namespace hosts share
// the filesystem), key-only. Users, keys and configs carry this process's prefix (`dsf…`) and
// are removed by `teardown`; nothing else on the machine is touched. Needs root, iproute2,
// /usr/sbin/sshd and sudo (scripts/ci/sshd.sh installs them).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lan, netnsMissing, type Lan } from './netns.ts'
import { waitFor } from '../poll.ts'

export type KeyType = 'ed25519' | 'rsa' | 'ecdsa'

export interface SshHostSpec {
  /** The key type of its user's key. Default ed25519. */
  key?: KeyType
  /** `nopasswd` (default): passwordless sudo; `password`: sudo asks for a password. */
  sudo?: 'nopasswd' | 'password'
}

export interface SshHost {
  /** 1-based, its namespace's number on the LAN. */
  index: number
  address: string
  user: string
  home: string
  /** Its user's private key file. */
  key: string
}

export interface SshLan {
  lan: Lan
  hosts: SshHost[]
  /** A key no host accepts. */
  strangerKey: string
  setup (): Promise<void>
  teardown (): Promise<void>
}

/** Why this machine cannot run sshd hosts in namespaces, or null when it can. */
export function sshdMissing (): string | null {
  const ns = netnsMissing()
  if (ns !== null) return ns
  if (!existsSync('/usr/sbin/sshd')) return '/usr/sbin/sshd is missing (bash scripts/ci/sshd.sh installs openssh-server)'
  try { execFileSync('sudo', ['-V'], { stdio: 'ignore' }) } catch { return 'sudo is missing (bash scripts/ci/sshd.sh installs it)' }
  return null
}

function sh (...argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}
function quiet (...argv: string[]): void {
  try { sh(...argv) } catch { /* already gone */ }
}

/**
 * `specs.length` sshd hosts on namespaces 2… of a LAN tagged `tag` (namespace 1 is left for the
 * daemon that provisions them).
 */
export function sshLan (tag: number, specs: SshHostSpec[]): SshLan {
  const net = lan(tag, specs.length + 1)
  const id = (process.pid % 46656).toString(36)
  const sshds: ChildProcess[] = []
  let dir = ''
  const hosts: SshHost[] = []
  const user = (i: number) => `dsf${id}u${i}`
  const self: SshLan = {
    lan: net,
    hosts,
    strangerKey: '',
    async setup () {
      try {
        await up()
      } catch (err) {
        await self.teardown()
        // uvu swallows what a before hook throws: say it here too.
        console.error(`sshd hosts: ${(err as Error).message}`)
        throw err
      }
    },
    async teardown () {
      for (const c of sshds) c.kill('SIGKILL')
      for (const h of hosts) {
        // Whatever the test's daemons left running as that user goes first, or userdel refuses.
        quiet('pkill', '-9', '-u', h.user)
        quiet('userdel', h.user)
        await rm(`/etc/sudoers.d/${h.user}`, { force: true })
      }
      net.teardown()
      if (dir) await rm(dir, { recursive: true, force: true })
    }
  }
  async function up (): Promise<void> {
    net.setup()
    dir = await mkdtemp(join(tmpdir(), 'dsf-sshd-'))
    await chmod(dir, 0o755)
    const stranger = join(dir, 'stranger')
    sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', stranger)
    self.strangerKey = stranger
    for (const [k, spec] of specs.entries()) {
      const i = k + 2
      const name = user(i)
      const home = join(dir, `home${i}`)
      quiet('userdel', '-r', name)
      sh('useradd', '-M', '-d', home, '-s', '/bin/bash', name)
      await mkdir(join(home, '.ssh'), { recursive: true })
      const key = join(dir, `key${i}`)
      const type = spec.key ?? 'ed25519'
      sh('ssh-keygen', '-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', key)
      await writeFile(join(home, '.ssh', 'authorized_keys'), execFileSync('cat', [`${key}.pub`]))
      sh('chown', '-R', `${name}:${name}`, home)
      if (spec.sudo === 'password') {
        execFileSync('chpasswd', { input: `${name}:dsf-${id}-secret\n` })
        await writeFile(`/etc/sudoers.d/${name}`, `${name} ALL=(ALL) ALL\n`, { mode: 0o440 })
      } else {
        sh('usermod', '-p', '*', name) // not locked (sshd without PAM refuses a locked account), no password
        await writeFile(`/etc/sudoers.d/${name}`, `${name} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 })
      }
      const hostKey = join(dir, `hostkey${i}`)
      sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostKey)
      const config = join(dir, `sshd${i}.conf`)
      await writeFile(config, [
        `ListenAddress ${net.address(i)}`, 'Port 22', `HostKey ${hostKey}`, `PidFile ${dir}/sshd${i}.pid`,
        'UsePAM no', 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
        `AllowUsers ${name}`, 'AllowTcpForwarding yes', 'Subsystem sftp internal-sftp', 'LogLevel ERROR', ''
      ].join('\n'))
      await mkdir('/run/sshd', { recursive: true })
      const where = net.where(i)
      const child = spawn(where.prefix![0]!, [...where.prefix!.slice(1), 'unshare', '--uts', 'sh', '-c', `hostname dsfhost${i}; exec /usr/sbin/sshd -D -e -f ${config}`], { stdio: ['ignore', 'ignore', 'pipe'] })
      child.stderr!.on('data', () => {})
      sshds.push(child)
      hosts.push({ index: i, address: net.address(i), user: name, home, key })
    }
    // Up when port 22 answers inside its namespace.
    for (const h of hosts) {
      await waitFor(() => {
        try { sh(...net.where(h.index).prefix!, 'bash', '-c', `exec 3<>/dev/tcp/${h.address}/22`) } catch { return false }
        return true
      }, { what: `sshd on ${h.address}`, timeout: 10_000 })
    }
  }
  return self
}
