// Host key pinning in `~/.dstack/known_hosts`, OpenSSH's known_hosts format (`[host]:port
// ssh-ed25519 AAAA…`), so `ssh -o UserKnownHostsFile=~/.dstack/known_hosts` trusts the same
// keys. The first connection to a node pins its key (and says so once); a different key later
// is refused with both fingerprints and the fix.
import { createHash } from 'node:crypto'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

export function knownHostsPath (): string {
  return join(homedir(), '.dstack', 'known_hosts')
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` elsewhere. */
export function hostPattern (host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** OpenSSH's fingerprint of a key blob: `SHA256:` and unpadded base64. */
export function fingerprint (key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** The key type a public key blob starts with (`ssh-ed25519`). */
function keyType (key: Buffer): string {
  if (key.length < 4) return 'unknown'
  const n = key.readUInt32BE(0)
  return n > 0 && n < 64 && key.length >= 4 + n ? key.subarray(4, 4 + n).toString('latin1') : 'unknown'
}

export class HostKeyChanged extends Error {
  readonly code = 'host_key_changed'
  constructor (readonly host: string, readonly pinned: string, readonly offered: string, readonly file: string, readonly line: number) {
    super(`the host key of ${host} has changed: ${file} line ${line} pins ${pinned}, the node offered ${offered}. ` +
      'Someone may be intercepting the connection, or the node got a new data dir. If you trust the new key, ' +
      `remove that line (ssh-keygen -R '${host}' -f ${file}) and connect again`)
    this.name = 'HostKeyChanged'
  }
}

/**
 * Checks `key` (the SSH wire blob) against the pinned keys of host:port: `known` when it
 * matches, `pinned` when there was none (it is now), or throws HostKeyChanged.
 */
export async function checkHostKey (host: string, port: number, key: Buffer, file = knownHostsPath()): Promise<'known' | 'pinned'> {
  const pattern = hostPattern(host, port)
  const type = keyType(key)
  const text = await readFile(file, 'utf8').catch(() => '')
  const lines = text.split('\n')
  let other: { line: number, key: Buffer } | undefined
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/)
    if (fields.length < 3 || fields[0]!.startsWith('#') || fields[0]!.startsWith('@')) continue
    if (!fields[0]!.split(',').includes(pattern)) continue
    const pinned = Buffer.from(fields[2]!, 'base64')
    if (pinned.equals(key)) return 'known'
    // A key of another type counts too: a node keeps one host key, so any other is a change.
    other ??= { line: i + 1, key: pinned }
  }
  if (other !== undefined) throw new HostKeyChanged(pattern, fingerprint(other.key), fingerprint(key), file, other.line)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await appendFile(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}${pattern} ${type} ${key.toString('base64')}\n`, { mode: 0o600 })
  return 'pinned'
}
