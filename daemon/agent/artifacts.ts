// Artifacts and cached folders of the older workflow format (SPEC §7). Artifacts are saved
// under DATA/artifacts/<run>/ when the job ends; `mount: true` artifacts are linked there from
// the start, so files land as they are written. Cached folders live in DATA/cache/<workflow>/
// and are linked into every run of that workflow.
import { cp, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { Run } from '../state/types.ts'

export function artifactsDir (dataDir: string, runName: string): string {
  return join(dataDir, 'artifacts', runName)
}

function inside (root: string, path: string): string {
  const full = join(root, path)
  if (full !== root && !full.startsWith(root + sep)) throw new Error(`${path} leaves the working directory`)
  return full
}

async function link (target: string, at: string): Promise<void> {
  await mkdir(target, { recursive: true })
  await mkdir(dirname(at), { recursive: true })
  await rm(at, { recursive: true, force: true })
  await symlink(target, at, 'dir')
}

export async function prepareArtifacts (dataDir: string, run: Run, workingDir: string): Promise<void> {
  const wf = run.spec.workflow
  if (!wf) return
  for (const a of wf.artifacts) {
    if (a.mount) await link(inside(artifactsDir(dataDir, run.name), a.path), inside(workingDir, a.path))
  }
  for (const c of wf.cache) await link(inside(join(dataDir, 'cache', wf.name), c.path), inside(workingDir, c.path))
}

export async function saveArtifacts (dataDir: string, run: Run, workingDir: string): Promise<void> {
  const wf = run.spec.workflow
  if (!wf) return
  for (const a of wf.artifacts) {
    if (a.mount) continue
    const from = inside(workingDir, a.path)
    const exists = await stat(from).then(s => s.isDirectory(), () => false)
    if (exists) await cp(from, inside(artifactsDir(dataDir, run.name), a.path), { recursive: true, dereference: true })
  }
}

export interface ArtifactFile { path: string, size: number }

/** Every file saved for a run, relative to its artifacts folder. */
export async function listArtifacts (dataDir: string, runName: string): Promise<ArtifactFile[]> {
  const root = artifactsDir(dataDir, runName)
  const out: ArtifactFile[] = []
  async function walk (dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      const full = join(dir, e.name)
      if (e.isDirectory()) await walk(full)
      else if (e.isFile()) out.push({ path: relative(root, full), size: (await stat(full)).size })
    }
  }
  await walk(root)
  return out.sort((a, b) => a.path.localeCompare(b.path))
}
