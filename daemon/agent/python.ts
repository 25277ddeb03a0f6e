// `python: 3.12` for a job that runs on the host: the host's own python3.12 where it has one,
// else one that uv finds or installs; the job then finds it first on its PATH as `python`,
// `python3` and `python3.12`. Without either, the job does not start, and says what to do.
import { execFile } from 'node:child_process'
import { mkdir, rm, symlink } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import type { JobUser } from '../../drivers/runtime/index.ts'

/** Who runs the checks: the job's user, so that what is found is what the job can run. */
interface As { env: Record<string, string>, user?: JobUser }

function run (file: string, args: string[], as: As, timeoutMs: number): Promise<string | null> {
  return new Promise(resolve => {
    const ids = as.user && as.user.uid !== process.getuid?.() ? { uid: as.user.uid, gid: as.user.gid } : {}
    execFile(file, args, { env: as.env, timeout: timeoutMs, ...ids }, (error, out) => resolve(error ? null : String(out).trim()))
  })
}

const SHOW = ['-c', 'import sys; print(sys.executable); print("%d.%d" % sys.version_info[:2])']

/** The interpreter's real path when it is that version (a pyenv shim may name one it lacks). */
async function check (python: string, version: string, as: As): Promise<string | null> {
  const out = await run(python, SHOW, as, 20_000)
  const [path, v] = out?.split('\n') ?? []
  return path && v === version ? path : null
}

/**
 * Puts a `version` interpreter first on env.PATH (through binDir), or throws saying what the
 * host lacks. uv may download the interpreter: that can take a while.
 */
export async function providePython (version: string, binDir: string, env: Record<string, string>, user?: JobUser): Promise<void> {
  const as = { env, user }
  const viaUv = async (): Promise<string | null> => { const p = await run('uv', ['python', 'find', version], as, 20_000); return p ? await check(p, version, as) : null }
  const found = await check(`python${version}`, version, as) ?? await viaUv() ??
    (await run('uv', ['python', 'install', version], as, 300_000) === null ? null : await viaUv())
  if (found === null) {
    const host = (await run('python3', SHOW, as, 20_000))?.split('\n')[1]
    throw new Error(`python ${version} was asked for, but this host has no python${version} and no uv that can provide it: install either on the host, or remove \`python:\` to use the host's python3${host ? ` (${host})` : ''}`)
  }
  await mkdir(binDir, { recursive: true })
  for (const name of ['python', 'python3', `python${version}`]) {
    await rm(join(binDir, name), { force: true })
    await symlink(found, join(binDir, name))
  }
  env.PATH = [binDir, env.PATH].filter(Boolean).join(delimiter)
}
