// Join tokens: one string that carries what a new node needs to join a mesh — the swarm key and
// the addresses of some members (each ending in /p2p/<peer id>).
//
//   dstack1.<base64url of {"v":1,"k":"<64 hex digits>","a":["/ip4/…/tcp/…/p2p/…", …]}>
//
// A token is a secret (whoever holds it can join): errors never repeat it or the key.
import { multiaddr } from '@multiformats/multiaddr'
import { SWARM_KEY_BYTES } from './keys.ts'
import { CodedError } from './errors.ts'

export const JOIN_TOKEN_PREFIX = 'dstack1.'
/** Tokens longer than this are refused before decoding (a token carries a few addresses). */
export const MAX_JOIN_TOKEN_LENGTH = 16 * 1024

export interface JoinToken {
  /** The mesh's pre-shared swarm key, 32 bytes. */
  swarmKey: Uint8Array
  /** Multiaddrs of members to connect to first, each with /p2p/<peer id>. */
  bootstrap: string[]
}

/** A join token that cannot be used; the message says what is wrong with it. */
export class JoinTokenError extends CodedError<'bad_join_token'> {
  override name = 'JoinTokenError'
  constructor (message: string) {
    super('bad_join_token', `invalid join token: ${message}`)
  }
}

export function formatJoinToken (token: JoinToken): string {
  if (token.swarmKey.length !== SWARM_KEY_BYTES) throw new JoinTokenError(`the swarm key must have ${SWARM_KEY_BYTES} bytes, not ${token.swarmKey.length}`)
  if (token.bootstrap.length === 0) throw new JoinTokenError('it needs at least one bootstrap address')
  for (const [i, a] of token.bootstrap.entries()) checkAddress(a, i)
  const json = JSON.stringify({ v: 1, k: Buffer.from(token.swarmKey).toString('hex'), a: token.bootstrap })
  return JOIN_TOKEN_PREFIX + Buffer.from(json, 'utf8').toString('base64url')
}

/** Validates and decodes a join token; throws a JoinTokenError naming the problem. */
export function parseJoinToken (input: unknown): JoinToken {
  if (typeof input !== 'string') throw new JoinTokenError(`expected a string, got ${input === null ? 'null' : typeof input}`)
  const s = input.trim()
  if (s === '') throw new JoinTokenError('it is empty')
  if (s.length > MAX_JOIN_TOKEN_LENGTH) throw new JoinTokenError(`it is ${s.length} characters long, more than the ${MAX_JOIN_TOKEN_LENGTH} a token can have`)
  if (!s.startsWith(JOIN_TOKEN_PREFIX)) {
    const dot = s.indexOf('.')
    const prefix = dot > 0 && dot <= 16 ? `'${s.slice(0, dot + 1)}'` : 'none'
    throw new JoinTokenError(`it must start with '${JOIN_TOKEN_PREFIX}' (prefix found: ${prefix}); get one with \`dstackd token\` on a member of the mesh`)
  }
  const body = s.slice(JOIN_TOKEN_PREFIX.length)
  if (body === '') throw new JoinTokenError(`nothing follows '${JOIN_TOKEN_PREFIX}'`)
  const bad = /[^A-Za-z0-9_-]/.exec(body)
  if (bad !== null) throw new JoinTokenError(`character ${JSON.stringify(bad[0])} at position ${JOIN_TOKEN_PREFIX.length + bad.index} is not base64url (was the token copied with extra text?)`)
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch {
    throw new JoinTokenError('its contents do not decode (the token is truncated or corrupted: copy it again in full)')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JoinTokenError('its contents are not an object (corrupted token)')
  const obj = value as Record<string, unknown>
  if (obj.v !== 1) throw new JoinTokenError(`unsupported token version ${JSON.stringify(obj.v) ?? 'undefined'} (this node understands version 1)`)
  const k = obj.k
  if (typeof k !== 'string') throw new JoinTokenError('the swarm key is missing')
  if (!/^[0-9a-fA-F]*$/.test(k)) throw new JoinTokenError('the swarm key is not hexadecimal')
  if (k.length !== SWARM_KEY_BYTES * 2) throw new JoinTokenError(`the swarm key has ${k.length} hex digits, expected ${SWARM_KEY_BYTES * 2} (${SWARM_KEY_BYTES} bytes)`)
  const a = obj.a
  if (!Array.isArray(a)) throw new JoinTokenError('the bootstrap address list is missing')
  if (a.length === 0) throw new JoinTokenError('it has no bootstrap addresses')
  const bootstrap = a.map((addr, i) => checkAddress(addr, i))
  return { swarmKey: Uint8Array.from(Buffer.from(k, 'hex')), bootstrap }
}

function checkAddress (addr: unknown, i: number): string {
  const where = `bootstrap address ${i + 1}`
  if (typeof addr !== 'string') throw new JoinTokenError(`${where} is not a string`)
  let components
  try {
    components = multiaddr(addr).getComponents()
  } catch (err) {
    throw new JoinTokenError(`${where} ${JSON.stringify(addr.slice(0, 120))} is not a multiaddr (${(err as Error).message})`)
  }
  const last = components[components.length - 1]
  if (last?.name !== 'p2p' || last.value == null) throw new JoinTokenError(`${where} ${JSON.stringify(addr.slice(0, 120))} does not end in /p2p/<peer id>`)
  return addr
}
