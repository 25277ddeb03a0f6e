// `ssh RUN` without `dstack attach` (beyond dstack, SPEC §5.6): the client writes one entry per
// job of a run into ~/.dstack/ssh/config, pointing at the SSH gateway of the node it talks to,
// with the user's own key (registered with the node) and the node's pinned host key. The entries
// stay while the run lives: each write also drops the entries of this gateway's project whose
// runs have ended, and `dstack stop` drops the ones of the runs it stops.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ApiClient } from '../daemon/api/client.ts'
import type { RunView } from '../daemon/api/views.ts'
import { collapseHome, ensureInclude, entriesPath, knownHostsPath, optionOf, pinHostKey, replaceBlocks, sshDir, updateEntries, type HostBlock } from './ssh-config.ts'

/** Where `ssh` reaches a node's gateway, and as whom: the project's entries are `PROJECT/…` logins. */
export interface Gateway {
  host: string
  port: number
  project: string
}

/**
 * The gateway of the node behind `url` (the socket path or `ssh://host[:port]` the client
 * connected to), pinning its host key for a local node; null when the node runs none.
 */
export async function gatewayOf (client: ApiClient, url: string): Promise<Gateway | null> {
  const info = await client.call('server.info')
  if (url.startsWith('ssh://')) {
    // The remote transport pinned the key when it connected; the entry reaches the same port.
    const u = new URL(url)
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 22 : Number(u.port), project: info.project }
  }
  if (info.ssh === undefined) return null
  await pinHostKey('127.0.0.1', info.ssh.port, info.ssh.hostKey)
  return { host: '127.0.0.1', port: info.ssh.port, project: info.project }
}

export function clientKeyPath (): string {
  return join(sshDir(), 'id_ed25519')
}

/** The client's key pair, made once; returns the public key (`ssh-ed25519 AAAA… comment`). */
export async function clientKey (): Promise<string> {
  const path = clientKeyPath()
  const existing = await readFile(`${path}.pub`, 'utf8').catch(() => null)
  if (existing !== null) return existing.trim()
  const { default: ssh2 } = await import('ssh2')
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'dstack' })
  await mkdir(sshDir(), { recursive: true, mode: 0o700 })
  // `wx`: a command making the key at the same moment keeps its own, never a mix of two.
  try {
    await writeFile(path, pair.private, { mode: 0o600, flag: 'wx' })
    await writeFile(`${path}.pub`, pair.public + '\n', { mode: 0o644 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    for (let i = 0; i < 100; i++) {
      const pub = await readFile(`${path}.pub`, 'utf8').catch(() => null)
      if (pub !== null && pub.trim() !== '') return pub.trim()
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    throw new Error(`${path} exists without ${path}.pub: remove it or add its public key`)
  }
  await chmod(path, 0o600)
  return pair.public.trim()
}

/** The alias of job `jobNum` of replica `replica`: the run's name for the first, dstack's job name otherwise. */
export function aliasOf (run: string, replica = 0, jobNum = 0): string {
  return replica === 0 && jobNum === 0 ? run : `${run}-${replica}-${jobNum}`
}

/** The entries of a run: `RUN` for its first job, and `RUN-R-J` for each job of a multi-job run. */
export function runBlocks (gateway: Gateway, run: Pick<RunView, 'name' | 'jobs'>): HostBlock[] {
  const block = (alias: string, login = alias): HostBlock => ({
    alias,
    options: [
      ['HostName', gateway.host],
      ['Port', String(gateway.port)],
      ['User', `${gateway.project}/${login}`],
      ['IdentityFile', collapseHome(clientKeyPath())],
      ['IdentitiesOnly', 'yes'],
      ['UserKnownHostsFile', collapseHome(knownHostsPath())],
      // The key is known (pinned above), so it is checked, unlike dstack's `no`.
      ['StrictHostKeyChecking', 'yes']
    ]
  })
  const jobs = [...new Map(run.jobs.map(j => [`${j.replica_num}-${j.job_num}`, j])).values()]
  const blocks = [block(run.name)]
  if (jobs.length > 1) for (const j of jobs) blocks.push(block(`${run.name}-${j.replica_num}-${j.job_num}`, aliasOf(run.name, j.replica_num, j.job_num)))
  return blocks
}

/** True for the entries of this gateway's project (others' entries are left alone). */
function isOf (gateway: Gateway, block: HostBlock): boolean {
  return optionOf(block, 'HostName') === gateway.host && optionOf(block, 'Port') === String(gateway.port) &&
    (optionOf(block, 'User') ?? '').startsWith(`${gateway.project}/`)
}

/** True for an entry of `run` (`PROJECT/RUN` or `PROJECT/RUN-R-J`). */
function belongsTo (gateway: Gateway, block: HostBlock, run: string): boolean {
  const user = optionOf(block, 'User') ?? ''
  const login = user.slice(gateway.project.length + 1)
  return isOf(gateway, block) && (login === run || (login.startsWith(`${run}-`) && /^\d+-\d+$/.test(login.slice(run.length + 1))))
}

/** `blocks` without the gateway's entries of runs not in `live` (other entries are left alone). */
export function pruneBlocks (blocks: readonly HostBlock[], gateway: Gateway, live: readonly string[]): HostBlock[] {
  return blocks.filter(b => !isOf(gateway, b) || live.some(name => belongsTo(gateway, b, name)))
}

/** The names of the project's runs that have not ended. */
async function liveRuns (client: ApiClient): Promise<string[]> {
  const { runs } = await client.call('runs.list', { all: false })
  return runs.filter(r => !['done', 'failed', 'terminated'].includes(r.status)).map(r => r.name)
}

/**
 * Writes the entries of `run` (registering the client key with the node), dropping those of
 * this gateway's runs that have ended. Returns a warning for the user, or null.
 */
export async function writeRunEntries (client: ApiClient, gateway: Gateway, run: Pick<RunView, 'name' | 'jobs'>): Promise<string | null> {
  const publicKey = await clientKey()
  await client.call('users.keys.add', { publicKey })
  const live = [...await liveRuns(client), run.name]
  await updateEntries(blocks => replaceBlocks(pruneBlocks(blocks, gateway, live), runBlocks(gateway, run)))
  return await ensureInclude()
}

/**
 * Drops the entries of `runs` (and of every run of the node's project that has ended), if
 * there are entries at all. Best effort: the next write drops them too.
 */
export async function forgetRuns (client: ApiClient, url: string, runs: readonly string[]): Promise<void> {
  try {
    await stat(entriesPath())
    const gateway = await gatewayOf(client, url)
    if (gateway === null) return
    const live = (await liveRuns(client)).filter(name => !runs.includes(name))
    await updateEntries(blocks => pruneBlocks(blocks, gateway, live))
  } catch { /* no entries, or the node went away */ }
}
