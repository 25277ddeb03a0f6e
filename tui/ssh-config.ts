// The client's OpenSSH files (SPEC §5.6): `~/.dstack/ssh/config` holds one `Host` block per
// alias, included from `~/.ssh/config` by a line prepended there once; `~/.dstack/known_hosts`
// holds the gateways' host keys. Every change is made under a lock file beside the file
// (several `dstack` commands may write at once) and lands by rename, so a reader (ssh) never
// sees half a file.
import { open, readFile, realpath, rename, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** Where dstack keeps its SSH files: the entries and the client key. */
export function sshDir (): string {
  return join(homedir(), '.dstack', 'ssh')
}

export function entriesPath (): string {
  return join(sshDir(), 'config')
}

export function knownHostsPath (): string {
  return join(homedir(), '.dstack', 'known_hosts')
}

export function userConfigPath (): string {
  return join(homedir(), '.ssh', 'config')
}

/** `/home/me/.dstack/x` → `~/.dstack/x`, as dstack writes paths into SSH config files. */
export function collapseHome (path: string): string {
  const home = homedir()
  return path === home ? '~' : path.startsWith(home + '/') ? `~${path.slice(home.length)}` : path
}

/** How long a lock may be held before another command takes it over (its holder died). */
const STALE_LOCK_MS = 30_000
/** How long a command waits for a lock. */
const LOCK_WAIT_MS = 10_000

async function lockIsStale (lock: string): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(lock, 'utf8'), stat(lock)])
    if (Date.now() - st.mtimeMs > STALE_LOCK_MS) return true
    const pid = Number(text.trim())
    if (!Number.isInteger(pid) || pid <= 0) return false
    try { process.kill(pid, 0); return false } catch (err) { return (err as NodeJS.ErrnoException).code === 'ESRCH' }
  } catch {
    return false
  }
}

/** Runs `fn` holding `FILE.lock` (created exclusively; a dead holder's lock is taken over). */
export async function withLock<T> (file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const fh = await open(lock, 'wx', 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (await lockIsStale(lock)) { await rm(lock, { force: true }); continue }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another dstack command (remove it if no dstack command is running)`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
  try {
    return await fn()
  } finally {
    await rm(lock, { force: true })
  }
}

/** Writes FILE whole, by rename of a file beside it (through a symlink to where it points). */
export async function writeAtomic (file: string, text: string, mode = 0o600): Promise<void> {
  const target = await realpath(file).catch(() => file)
  const tmp = `${target}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode })
  try {
    await rename(tmp, target)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

async function readOrEmpty (file: string): Promise<string> {
  return await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return ''; throw err })
}

/** One `Host` block: its alias and its options in order. */
export interface HostBlock {
  alias: string
  options: Array<[string, string]>
}

/** The blocks of a file written by formatBlocks (anything before the first `Host` line is dropped). */
export function parseBlocks (text: string): HostBlock[] {
  const blocks: HostBlock[] = []
  for (const line of text.split('\n')) {
    const host = /^Host\s+(\S+)\s*$/i.exec(line)
    if (host) { blocks.push({ alias: host[1]!, options: [] }); continue }
    const option = /^\s+([A-Za-z]+)\s+(.*?)\s*$/.exec(line)
    if (option && blocks.length > 0) blocks.at(-1)!.options.push([option[1]!, option[2]!])
  }
  return blocks
}

function quote (value: string): string {
  return /\s/.test(value) ? `"${value.replaceAll('"', '')}"` : value
}

/** `Host alias` then `    Key Value` lines, a blank line between blocks. */
export function formatBlocks (blocks: readonly HostBlock[]): string {
  return blocks.map(b => [`Host ${b.alias}`, ...b.options.map(([k, v]) => `    ${k} ${quote(v)}`)].join('\n') + '\n').join('\n')
}

/** The value of option `key` (case-insensitive, as ssh reads it). */
export function optionOf (block: HostBlock, key: string): string | undefined {
  return block.options.find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1]
}

/**
 * Changes the entries of ~/.dstack/ssh/config under its lock: `change` gets the blocks and
 * returns the new ones. A block whose alias is given again replaces the old one in place.
 */
export async function updateEntries (change: (blocks: HostBlock[]) => HostBlock[]): Promise<void> {
  const file = entriesPath()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await withLock(file, async () => {
    const before = await readOrEmpty(file)
    const text = formatBlocks(change(parseBlocks(before)))
    if (text !== before) await writeAtomic(file, text)
  })
}

/** Blocks `set` laid over `blocks`: same alias replaced where it stood, new ones appended. */
export function replaceBlocks (blocks: readonly HostBlock[], set: readonly HostBlock[]): HostBlock[] {
  const byAlias = new Map(set.map(b => [b.alias, b]))
  const out = blocks.map(b => byAlias.get(b.alias) ?? b)
  for (const b of set) if (!blocks.some(o => o.alias === b.alias)) out.push(b)
  return out
}

const INCLUDE = 'Include ~/.dstack/ssh/config'

/** True when `text` (an ssh config) already includes ours, by `~` or by the full path. */
export function hasInclude (text: string): boolean {
  const full = entriesPath()
  return text.split('\n').some(line => {
    const m = /^\s*Include\s+(.+?)\s*$/i.exec(line)
    return m !== null && m[1]!.split(/\s+/).some(p => p === '~/.dstack/ssh/config' || p === full)
  })
}

/**
 * Prepends `Include ~/.dstack/ssh/config` to ~/.ssh/config (created if missing), once. Returns
 * a warning for the user when the file cannot be written, null otherwise.
 */
export async function ensureInclude (): Promise<string | null> {
  const file = userConfigPath()
  try {
    if (hasInclude(await readOrEmpty(file))) return null
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await withLock(file, async () => {
      const text = await readOrEmpty(file)
      if (hasInclude(text)) return
      const mode = await stat(file).then(s => s.mode & 0o777, () => 0o600)
      // At the top: an Include below a Host line would apply only inside that block.
      await writeAtomic(file, `${INCLUDE}\n\n${text}`, mode)
    })
    return null
  } catch (err) {
    return `${collapseHome(file)} cannot be changed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): add this line at its top so that \`ssh RUN\` finds dstack's entries:\n  ${INCLUDE}`
  }
}

/** `[host]:port` as known_hosts names a host on a port other than 22. */
export function knownHostName (host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/**
 * Adds `host:port key` to ~/.dstack/known_hosts unless that host already has a line there
 * (a pinned key is never replaced here: a changed key must be refused, not learned).
 */
export async function pinHostKey (host: string, port: number, hostKey: string): Promise<void> {
  const file = knownHostsPath()
  const name = knownHostName(host, port)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await withLock(file, async () => {
    const text = await readOrEmpty(file)
    if (text.split('\n').some(line => line.split(/\s+/)[0]?.split(',').includes(name))) return
    await writeAtomic(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${name} ${hostKey.trim()}\n`)
  })
}
