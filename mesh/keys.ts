// The two secrets a node keeps in its data dir, both mode 0600:
//   identity.key  the node's Ed25519 private key (libp2p protobuf encoding): its peer id
//   swarm.key     the mesh's pre-shared key, in the text format of @libp2p/pnet:
//                 "/key/swarm/psk/1.0.0/\n/base16/\n<64 hex digits>\n"
// A file that exists but cannot be read back is an error, never silently replaced: a new
// identity or a new swarm key would quietly make the node somebody else or cut it off the mesh.
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CodedError } from './errors.ts'

/** Bytes of a swarm key. */
export const SWARM_KEY_BYTES = 32
export const IDENTITY_FILE = 'identity.key'
export const SWARM_KEY_FILE = 'swarm.key'
const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

/** A key file that is missing where it must exist, unreadable, or malformed. */
export class MeshKeyError extends CodedError {
  override name = 'MeshKeyError'
}

export async function ensureDataDir (dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
}

/** Writes `data` to `path` (mode 0600) through a temporary file and a rename. */
export async function writeFileAtomic (path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, data, { mode: 0o600 })
  await rename(tmp, path)
}

async function readIfExists (path: string): Promise<Buffer | undefined> {
  try {
    const data = await readFile(path)
    // Keep secrets private even if someone loosened the mode.
    const st = await stat(path)
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600).catch(() => {})
    return data
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new MeshKeyError('unreadable', `cannot read ${path}: ${(err as Error).message}`)
  }
}

/** The text form of a swarm key, as @libp2p/pnet's `preSharedKey({ psk })` wants its bytes. */
export function swarmKeyFile (key: Uint8Array): string {
  if (key.length !== SWARM_KEY_BYTES) throw new MeshKeyError('bad_swarm_key', `a swarm key has ${SWARM_KEY_BYTES} bytes, not ${key.length}`)
  return SWARM_KEY_HEADER + Buffer.from(key).toString('hex') + '\n'
}

/** Parses the text form of a swarm key; `where` names the source in errors. */
export function parseSwarmKeyFile (text: string, where: string): Uint8Array {
  const lines = text.replace(/\r\n/g, '\n').split('\n').map(l => l.trim())
  if (lines[0] !== '/key/swarm/psk/1.0.0/') throw new MeshKeyError('bad_swarm_key', `${where}: not a swarm key (the first line must be /key/swarm/psk/1.0.0/)`)
  if (lines[1] !== '/base16/') throw new MeshKeyError('bad_swarm_key', `${where}: only /base16/ swarm keys are supported`)
  const hex = lines[2] ?? ''
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new MeshKeyError('bad_swarm_key', `${where}: the key is not hexadecimal`)
  if (hex.length !== SWARM_KEY_BYTES * 2) throw new MeshKeyError('bad_swarm_key', `${where}: the key has ${hex.length} hex digits, expected ${SWARM_KEY_BYTES * 2}`)
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** The swarm key in `dataDir`, or undefined when the node has never belonged to a mesh. */
export async function readSwarmKey (dataDir: string): Promise<Uint8Array | undefined> {
  const path = join(dataDir, SWARM_KEY_FILE)
  const data = await readIfExists(path)
  return data === undefined ? undefined : parseSwarmKeyFile(data.toString('utf8'), path)
}

export async function writeSwarmKey (dataDir: string, key: Uint8Array): Promise<void> {
  await writeFileAtomic(join(dataDir, SWARM_KEY_FILE), swarmKeyFile(key))
}

export function newSwarmKey (): Uint8Array {
  return Uint8Array.from(randomBytes(SWARM_KEY_BYTES))
}

/**
 * The node's private key: read from `dataDir/identity.key`, or generated and written there
 * (mode 0600) on first start. The libp2p crypto module is loaded lazily so that code that only
 * reads the swarm key stays light.
 */
export async function loadOrCreateIdentity (dataDir: string) {
  const { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } = await import('@libp2p/crypto/keys')
  const path = join(dataDir, IDENTITY_FILE)
  const data = await readIfExists(path)
  if (data !== undefined) {
    try {
      return privateKeyFromProtobuf(data)
    } catch (err) {
      throw new MeshKeyError('bad_identity', `${path} is not a libp2p private key (${(err as Error).message}); move it away to give this node a new identity`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(key))
  return key
}
