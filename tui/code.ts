// The code a run takes along: the local repo (`repos: [.]`, or the directory of an older
// workflows file) and `files`, read here and sent with the submission, so the job starts with
// them in its working directory as dstack's runner does.
import { readFile, readdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join, posix, resolve } from 'node:path'
import type { RunConfiguration } from '../daemon/config/index.ts'

export interface CodeFile {
  /** Where the file goes, relative to the job's root directory (its repo dir). */
  path: string
  mode: number
  /** base64 */
  data: string
}

/** 10 MB in all, so a submission fits in one frame; DSTACK_CODE_UPLOAD_LIMIT (MB) changes it. */
function limitBytes (): number {
  const mb = Number(process.env.DSTACK_CODE_UPLOAD_LIMIT ?? 10)
  return (Number.isFinite(mb) && mb > 0 ? mb : 10) * 1024 * 1024
}

const FILE_LIMIT = 2 * 1024 * 1024

function expand (p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1))
  return isAbsolute(p) ? p : resolve(base, p)
}

/** A directory's files: what git tracks or would track (ignoring .gitignore'd ones), else every file. */
async function listDir (dir: string): Promise<string[]> {
  try {
    // Loaded only here: node:child_process costs ~5 ms of every command that never starts one.
    const { execFile } = await import('node:child_process')
    const { promisify } = await import('node:util')
    const { stdout } = await promisify(execFile)('git', ['-C', dir, 'ls-files', '-co', '--exclude-standard', '-z'], { maxBuffer: 64 * 1024 * 1024 })
    return stdout.split('\0').filter(Boolean)
  } catch {
    const out: string[] = []
    async function walk (sub: string): Promise<void> {
      for (const e of await readdir(join(dir, sub), { withFileTypes: true })) {
        if (e.name === '.git') continue
        const rel = sub ? `${sub}/${e.name}` : e.name
        if (e.isDirectory()) await walk(rel)
        else if (e.isFile()) out.push(rel)
      }
    }
    await walk('')
    return out
  }
}

/** Container path → path under the job root: absolute as is, relative from the working dir. */
function target (containerPath: string, workingDir: string | null): string {
  const base = workingDir === null || workingDir === '~' ? '/' : workingDir.replace(/^~/, '')
  const full = posix.normalize(posix.isAbsolute(containerPath) ? containerPath : posix.join(base, containerPath))
  return full.replace(/^\/+/, '') || '.'
}

export async function collectCode (c: RunConfiguration, configDir: string, workflowRepo?: string): Promise<CodeFile[]> {
  const out: CodeFile[] = []
  let total = 0
  const add = async (local: string, path: string, single: boolean) => {
    const s = await stat(local)
    if (single && s.size > FILE_LIMIT) throw new Error(`${local} is ${Math.ceil(s.size / 1024)} KB: files entries are limited to 2 MB each`)
    total += s.size
    if (total > limitBytes()) throw new Error(`the code to upload exceeds ${limitBytes() / 1024 / 1024} MB at ${local}: add large files to .gitignore, or raise DSTACK_CODE_UPLOAD_LIMIT (MB)`)
    out.push({ path, mode: s.mode & 0o777, data: (await readFile(local)).toString('base64') })
  }
  const addTree = async (dir: string, to: string) => {
    for (const rel of await listDir(dir)) {
      const s = await stat(join(dir, rel)).catch(() => null)
      if (s?.isFile()) await add(join(dir, rel), to === '.' ? rel : `${to}/${rel}`, false)
    }
  }
  if (workflowRepo) await addTree(workflowRepo, '.')
  for (const repo of c.repos) {
    if (repo.url !== null) throw new Error(`repos: ${repo.url} is a remote repository: this version uploads local repos only (use local_path)`)
    await addTree(expand(repo.local_path ?? '.', configDir), target(repo.path, '/'))
  }
  for (const f of c.files) {
    const local = expand(f.local_path, configDir)
    const s = await stat(local).catch(() => null)
    if (!s) throw new Error(`files: ${f.local_path} does not exist (looked for ${local})`)
    if (s.isDirectory()) await addTree(local, target(f.path, c.working_dir))
    else await add(local, target(f.path, c.working_dir), true)
  }
  return out
}

export function describeCode (files: CodeFile[]): string {
  const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.data, 'base64'), 0)
  return `${files.length} file${files.length === 1 ? '' : 's'}, ${Math.ceil(bytes / 1024)} KB`
}
