// Where this host's jobs live, and as whom they run. The data dir holds what makes dstackd
// dstackd (token, swarm.key, identity.key, the Raft log, api.sock): no job directory goes in it.
// Jobs live in a sibling, DATA_DIR-jobs (or --jobs-dir), and when dstackd runs as root they run
// as an unprivileged user that can pass through that area to its own job's directory and reach
// nothing of the daemon's.
import { createHash } from 'node:crypto'
import { chmod, mkdir, stat } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { ensureJobUser, JOB_USER_NAME, type HostUser } from '../../drivers/runtime/index.ts'

export interface JobsArea {
  dir: string
  /** Who a job runs as when its configuration names nobody; null: dstackd's own user. */
  user: HostUser | null
  /** What a job can reach of dstackd's, for `ps -v`; null when nothing. */
  note: string | null
}

/** Where the jobs of a root dstackd go when the data dir's sibling is out of the job user's reach. */
export const SHARED_JOBS_ROOT = '/var/lib/dstackd-jobs'

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

/** The first existing directory on the way to path that others cannot pass through, or null. */
async function blockedAt (path: string): Promise<string | null> {
  const chain: string[] = []
  for (let p = path; ; p = dirname(p)) { chain.unshift(p); if (dirname(p) === p) break }
  for (const p of chain) {
    const st = await stat(p).catch(() => null)
    if (st === null) return null // created below with mode 0711
    if ((st.mode & 0o001) === 0) return p
  }
  return null
}

const inside = (root: string, path: string) => path === root || path.startsWith(root + sep)

export async function prepareJobsArea (opts: { dataDir: string, jobsDir?: string, log: Log }): Promise<JobsArea> {
  const dataDir = resolve(opts.dataDir)
  const asRoot = process.getuid?.() === 0
  let dir = resolve(opts.jobsDir ?? `${dataDir}-jobs`)
  if (inside(dataDir, dir)) throw new Error(`--jobs-dir ${dir} is inside the data dir ${dataDir}: jobs must not sit next to dstackd's keys; choose a directory outside it`)
  if (asRoot) {
    const blocked = await blockedAt(dir)
    if (blocked !== null && opts.jobsDir !== undefined) {
      throw new Error(`--jobs-dir ${dir}: jobs run as an unprivileged user, which cannot pass through ${blocked} (no x permission for others); choose a directory it can reach, e.g. ${SHARED_JOBS_ROOT}`)
    }
    if (blocked !== null) {
      // e.g. the default data dir under /root (mode 0700): one directory per data dir, so
      // several dstackd on one host never share theirs.
      dir = join(SHARED_JOBS_ROOT, createHash('sha256').update(dataDir).digest('hex').slice(0, 12))
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o711 })
  await chmod(dir, 0o711)
  if (!asRoot) {
    const name = userInfo().username
    opts.log('warn', 'jobs run as dstackd\'s own user and can read its data dir, keys included (as root, dstackd runs them as an unprivileged user)', { jobsDir: dir, user: name })
    return { dir, user: null, note: `runs as dstackd's own user ${name}: it can read what dstackd can, its data dir and keys included (run dstackd as root to run jobs as an unprivileged user)` }
  }
  const user = await ensureJobUser({ home: join(dir, 'home') })
  if (user.how === 'fixed ids') opts.log('warn', `could not create the user ${JOB_USER_NAME}: jobs run as uid and gid ${user.uid}, which have no passwd entry`, { why: user.why })
  opts.log('info', 'jobs area', { jobsDir: dir, user: user.name, uid: user.uid, created: user.how === 'created' })
  return { dir, user, note: null }
}
