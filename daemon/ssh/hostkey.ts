// The gateway's host key: one ed25519 key per node, made at its first start and kept in the data
// dir (`ssh_host_ed25519_key`, OpenSSH format, mode 0600), so a client that pinned it once
// (`~/.dstack/known_hosts`, `~/.ssh/known_hosts`) keeps trusting the node across restarts.
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ssh2 from 'ssh2'

const { utils } = ssh2

export const HOST_KEY_FILE = 'ssh_host_ed25519_key'

export interface HostKey {
  /** The private key, OpenSSH format: what the ssh2 server signs with. */
  private: string
  /** The public key line a client pins: `ssh-ed25519 AAAA…`. */
  public: string
}

/** The node's host key from DIR, made (atomically: two starts never write two keys) when there is none. */
export async function loadHostKey (dataDir: string): Promise<HostKey> {
  const path = join(dataDir, HOST_KEY_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the SSH host key ${path}: ${(err as Error).message}`)
    const made = utils.generateKeyPairSync('ed25519', { comment: 'dstackd' })
    await writeFile(path, made.private, { mode: 0o600, flag: 'wx' }).catch(e => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot write the SSH host key ${path}: ${(e as Error).message}`)
    })
    text = await readFile(path, 'utf8')
  }
  await chmod(path, 0o600)
  const parsed = utils.parseKey(text)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key === undefined || key instanceof Error || !key.isPrivateKey()) {
    throw new Error(`${path} is not an OpenSSH private key${key instanceof Error ? ` (${key.message})` : ''}: move it away and dstackd makes a new one (clients that pinned the old one will refuse the new)`)
  }
  return { private: text, public: `${key.type} ${key.getPublicSSH().toString('base64')}` }
}
