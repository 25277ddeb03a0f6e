// A node's data dir: where its socket, log and process record are, and keeping all of it
// private. It holds the admin token, the swarm key, the Raft log (every job's environment) and
// the jobs' files, so no other user may read any of it — whatever modes it had before.
// Imported by the `dstack` CLI too: node:fs and node:path only.
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** The longest path a Unix socket can bind on Linux (`sun_path` is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107

export const socketPathOf = (dataDir: string): string => join(dataDir, 'api.sock')
/** The log of a dstackd started in the background by `dstack`. */
export const logPathOf = (dataDir: string): string => join(dataDir, 'dstackd.log')
/** Which process serves DIR: see pidfile.ts. */
export const pidPathOf = (dataDir: string): string => join(dataDir, 'dstackd.pid')

/**
 * Why DIR's socket cannot be bound, or undefined. Node would bind a truncated path instead of
 * failing, and clients would never find it.
 */
export function socketPathProblem (dataDir: string): string | undefined {
  const path = socketPathOf(dataDir)
  const bytes = Buffer.byteLength(path)
  if (bytes <= MAX_SOCKET_PATH_BYTES) return undefined
  return `the data dir ${dataDir} is too long: its socket ${path} would be ${bytes} bytes, and a Unix socket path has at most ${MAX_SOCKET_PATH_BYTES}; choose a data dir at most ${MAX_SOCKET_PATH_BYTES - (bytes - Buffer.byteLength(dataDir))} bytes long (--data-dir or DSTACKD_DATA_DIR)`
}

/**
 * Creates DIR if needed and takes every permission of group and others away from it and from
 * everything in it: directories become 0700, files keep only their owner's bits (0644 → 0600,
 * 0755 → 0700). Symbolic links are left alone and not followed. Returns what could not be
 * changed (a file of another user, when not root), for the caller to report.
 */
export async function makePrivate (dataDir: string): Promise<string[]> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  return await makeTreePrivate(dataDir)
}

/** `makePrivate` of a path that exists (or not: then nothing to do), file or directory. */
export async function makeTreePrivate (root: string): Promise<string[]> {
  const problems: string[] = []
  const visit = async (path: string): Promise<void> => {
    let st
    try {
      st = await lstat(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${path}: ${(err as Error).message}`)
      return
    }
    if (st.isSymbolicLink()) return
    const mode = st.mode & 0o7777
    const wanted = st.isDirectory() ? 0o700 : mode & 0o700
    if (mode !== wanted) {
      try { await chmod(path, wanted) } catch (err) { problems.push(`${path}: ${(err as Error).message}`) }
    }
    if (!st.isDirectory()) return
    let names: string[]
    try {
      names = await readdir(path)
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`)
      return
    }
    await Promise.all(names.map(n => visit(join(path, n))))
  }
  await visit(root)
  return problems
}
