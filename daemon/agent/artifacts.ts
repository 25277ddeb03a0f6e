// Artifacts and cached folders of the older workflow format (SPEC §7). Artifacts are saved
// under DATA/artifacts/<run>/ when the job ends. What a job writes into while it runs lives in
// the jobs area (never in the data dir, which a job must not reach): `mount: true` artifacts
// are linked to AREA/artifacts/<run>/ from the start, so files land there as they are written,
// and are saved with the rest at the end; cached folders live in AREA/cache/<workflow>/ and are
// linked into every run of that workflow.
import { chown, cp, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { Run } from '../state/types.ts'

/** A run's project and name: what its artifacts are kept by. */
type RunRef = Pick<Run, 'project' | 'name'>

/**
 * Where a project's artifacts and caches go under `base`: `main`'s where they always were,
 * another project's under projects/<name>/, so two projects never share a run's artifacts
 * or a workflow's cache.
 */
function projectDir (base: string, project: string): string {
  return project === 'main' ? base : join(base, 'projects', project)
}

export function artifactsDir (dataDir: string, run: RunRef): string {
  return join(projectDir(dataDir, run.project), 'artifacts', run.name)
}

function inside (root: string, path: string): string {
  const full = join(root, path)
  if (full !== root && !full.startsWith(root + sep)) throw new Error(`${path} leaves the working directory`)
  return full
}

/** Owner: the job's user, which must write into what is linked. */
async function link (target: string, at: string, owner?: { uid: number, gid: number }): Promise<void> {
  await mkdir(target, { recursive: true })
  if (owner) await chown(target, owner.uid, owner.gid)
  await mkdir(dirname(at), { recursive: true })
  await rm(at, { recursive: true, force: true })
  await symlink(target, at, 'dir')
}

const liveArtifactsDir = (areaDir: string, run: Run) => artifactsDir(areaDir, run)

export async function prepareArtifacts (areaDir: string, run: Run, workingDir: string, owner?: { uid: number, gid: number }): Promise<void> {
  const wf = run.spec.workflow
  if (!wf) return
  for (const a of wf.artifacts) {
    if (a.mount) await link(inside(liveArtifactsDir(areaDir, run), a.path), inside(workingDir, a.path), owner)
  }
  for (const c of wf.cache) await link(inside(join(projectDir(areaDir, run.project), 'cache', wf.name), c.path), inside(workingDir, c.path), owner)
}

export async function saveArtifacts (dataDir: string, areaDir: string, run: Run, workingDir: string): Promise<void> {
  const wf = run.spec.workflow
  if (!wf) return
  for (const a of wf.artifacts) {
    const from = a.mount ? inside(liveArtifactsDir(areaDir, run), a.path) : inside(workingDir, a.path)
    const exists = await stat(from).then(s => s.isDirectory(), () => false)
    // Links stay links (and are never listed or served): a job must not make dstackd copy
    // what the job itself cannot read.
    if (exists) await cp(from, inside(artifactsDir(dataDir, run), a.path), { recursive: true, dereference: false })
  }
}

export interface ArtifactFile { path: string, size: number }

/** Every file saved for a run, relative to its artifacts folder. */
export async function listArtifacts (dataDir: string, run: RunRef): Promise<ArtifactFile[]> {
  const root = artifactsDir(dataDir, run)
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
