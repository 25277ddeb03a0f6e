// Users' SSH public keys: what a one-line OpenSSH public key (`ssh-ed25519 AAAA… comment`) is,
// and its fingerprint as OpenSSH prints it (`SHA256:…`, ssh-keygen -lf). The key itself is not
// a secret; it lives in the replicated state next to its user (daemon/state/users.ts).
import { createHash } from 'node:crypto'
import ssh2 from 'ssh2'
import type { UserKey } from '../state/types.ts'

export type { UserKey }

const { utils } = ssh2

/** OpenSSH's fingerprint of a key blob. */
export function fingerprintOf (blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** The longest public key line taken (an RSA 16384-bit key is about 2.8 KB). */
const MAX_KEY_LINE = 8192

/**
 * A one-line OpenSSH public key, checked: throws an Error saying what is wrong with it (a
 * private key given by mistake, a truncated line, an unknown type) without echoing it.
 */
export function parsePublicKey (line: string, added = Date.now()): UserKey {
  const text = line.trim()
  if (text.length === 0) throw new Error('the public key is empty: expected one line such as "ssh-ed25519 AAAA… user@host"')
  if (text.length > MAX_KEY_LINE) throw new Error(`the public key is ${text.length} characters long: expected one line of at most ${MAX_KEY_LINE}`)
  if (text.includes('PRIVATE KEY')) throw new Error('that is a private key: give the public one (the .pub file next to it), and keep the private key secret')
  if (text.includes('\n')) throw new Error('expected one public key on one line, got several lines')
  const parsed = utils.parseKey(text)
  if (parsed instanceof Error) throw new Error(`not an OpenSSH public key (${parsed.message}): expected one line such as "ssh-ed25519 AAAA… user@host"`)
  const key = Array.isArray(parsed) ? parsed[0]! : parsed
  if (key.isPrivateKey()) throw new Error('that is a private key: give the public one (the .pub file next to it)')
  const blob = key.getPublicSSH()
  const comment = text.split(/\s+/).slice(2).join(' ')
  return { fingerprint: fingerprintOf(blob), type: key.type, data: blob.toString('base64'), comment, added }
}

/** The one-line form of a registered key (what `utils.parseKey` reads back to verify a signature). */
export function keyLine (key: Pick<UserKey, 'type' | 'data'>): string {
  return `${key.type} ${key.data}`
}
