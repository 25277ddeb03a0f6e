// Who a process job runs as: a user of this host named by the configuration (`user:
// name_or_uid[:group_or_gid]`), or the unprivileged user dstackd keeps for jobs when it runs as
// root, so that a job never holds dstackd's own powers.
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir } from 'node:fs/promises'
import type { JobUser } from '../types.ts'

export interface HostUser extends JobUser {
  name: string
  /** Its home directory, where it has one. */
  home: string | null
}

/** The user dstackd creates for jobs. */
export const JOB_USER_NAME = 'dstack-job'
/** Ids for jobs where no user can be created: high, and without a passwd entry. */
export const FALLBACK_JOB_ID = 65533

function run (file: string, args: string[]): Promise<{ ok: boolean, out: string, err: string }> {
  return new Promise(resolve => {
    execFile(file, args, { timeout: 10_000 }, (error, out, err) => resolve({ ok: !error, out: String(out), err: String(err).trim() }))
  })
}

/** The fields of one passwd or group entry, or null where there is none. */
async function getent (db: 'passwd' | 'group', key: string): Promise<string[] | null> {
  const r = await run('getent', [db, key])
  const line = r.ok ? r.out.split('\n')[0] : ''
  return line ? line.split(':') : null
}

const isId = (s: string) => /^\d+$/.test(s)

/** `name_or_uid[:group_or_gid]` as a user of this host; throws naming what is missing. */
export async function lookupUser (spec: string): Promise<HostUser> {
  const [u = '', g] = spec.split(':')
  if (u === '' || g === '' || spec.split(':').length > 2) throw new Error(`user ${JSON.stringify(spec)}: expected name_or_uid[:group_or_gid]`)
  const pw = await getent('passwd', u)
  if (!pw && !isId(u)) throw new Error(`user ${JSON.stringify(u)} does not exist on this host`)
  const uid = pw ? Number(pw[2]) : Number(u)
  let gid = pw ? Number(pw[3]) : uid
  if (g !== undefined) {
    const gr = await getent('group', g)
    if (!gr && !isId(g)) throw new Error(`group ${JSON.stringify(g)} does not exist on this host`)
    gid = gr ? Number(gr[2]) : Number(g)
  }
  let groups = [gid]
  if (pw && g === undefined) {
    const ids = await run('id', ['-G', pw[0]!])
    if (ids.ok) groups = [...new Set([gid, ...ids.out.trim().split(/\s+/).filter(isId).map(Number)])]
  }
  return { uid, gid, groups, name: pw?.[0] ?? u, home: pw?.[5] || null }
}

export interface JobUserOptions {
  /** The jobs' home (created, owned by the user, mode 0700): each dstackd has its own, so the passwd entry has none. */
  home: string
  name?: string
}

/**
 * The dedicated job user: the existing one, else created with useradd or adduser, else (no
 * tool, or it failed) the fixed ids FALLBACK_JOB_ID without a passwd entry. Needs root.
 */
export async function ensureJobUser (opts: JobUserOptions): Promise<HostUser & { how: 'existing' | 'created' | 'fixed ids', why?: string }> {
  const name = opts.name ?? JOB_USER_NAME
  let how: 'existing' | 'created' | 'fixed ids' = 'existing'
  let why: string | undefined
  if (!await getent('passwd', name)) {
    const shell = '/usr/sbin/nologin'
    const tries: Array<[string, string[]]> = [
      ['useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', shell, name]],
      ['adduser', ['--system', '--group', '--no-create-home', '--home', '/nonexistent', '--shell', shell, name]]
    ]
    const errors: string[] = []
    // Several dstackd starting on one host race to create it (and for /etc/passwd's lock).
    for (let round = 0; round < 3 && how !== 'created'; round++) {
      if (round > 0) await new Promise(resolve => setTimeout(resolve, 300 * round))
      for (const [file, args] of tries) {
        const r = await run(file, args)
        if (r.ok || await getent('passwd', name)) { how = 'created'; break }
        errors.push(`${file}: ${r.err || 'failed'}`)
      }
    }
    if (how !== 'created') { how = 'fixed ids'; why = errors.join('; ') }
  }
  const user: HostUser = how === 'fixed ids'
    ? { uid: FALLBACK_JOB_ID, gid: FALLBACK_JOB_ID, groups: [FALLBACK_JOB_ID], name: `uid ${FALLBACK_JOB_ID}`, home: null }
    : await lookupUser(name)
  await mkdir(opts.home, { recursive: true, mode: 0o700 })
  await chown(opts.home, user.uid, user.gid)
  await chmod(opts.home, 0o700)
  return { ...user, home: opts.home, how, ...(why ? { why } : {}) }
}
