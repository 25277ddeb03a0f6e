// A job's directory before it starts: the run's code, workflow artifacts, the environment, the
// python it asked for, its script in a file (any length: argv is limited to 128 KiB a string),
// all owned by the user the job runs as.
import { cp, lstat, lchown, mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lookupUser, type ContainerSpec, type HostUser, type JobDevice, type JobUser } from '../../drivers/runtime/index.ts'
import type { Job, JobSubmission, Run, State } from '../state/types.ts'
import { prepareArtifacts } from './artifacts.ts'
import { containerJob } from './container.ts'
import { jobEnvironment, jobWorkingDir, type HostGpu } from './environment.ts'
import type { JobsArea } from './jobs-area.ts'
import { providePython } from './python.ts'

export interface Workspace {
  command: string[]
  env: Record<string, string>
  workingDir: string
  user?: JobUser
  /** Set when the job runs in a container. */
  container?: ContainerSpec
}

export interface WorkspaceInput {
  state: State
  run: Run
  job: Job
  sub: JobSubmission
  /** The job's directory in the jobs area. */
  dir: string
  dataDir: string
  area: JobsArea
  node: string
  hostGpus?: readonly HostGpu[]
  fetchCode?: (run: Run, dir: string) => Promise<void>
  /**
   * Set when the job runs in a container, with its image and devices; otherwise it runs on
   * this host (so `python:` is this host's to provide).
   */
  container?: ContainerChoice | null
}

/** What a container job runs in, decided by the agent: the image, pull credentials, devices. */
export interface ContainerChoice {
  image: string
  registryAuth?: { username: string, password: string } | null
  devices?: JobDevice[]
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false)

/** The configuration's `user`, else the area's job user; throws when this dstackd cannot be that user. */
export async function jobUser (configured: string | null, area: JobsArea): Promise<HostUser | null> {
  if (configured === null) return area.user
  const user = await lookupUser(configured)
  if (user.uid === 0) throw new Error(`user ${configured}: jobs never run as root here, where they would reach dstackd's keys; name an unprivileged user, or remove \`user:\``)
  const self = process.getuid?.()
  if (self !== undefined && self !== 0 && user.uid !== self) {
    throw new Error(`user ${configured}: dstackd is not root, so its jobs run as its own user (uid ${self}); remove \`user:\`, or run dstackd as root`)
  }
  return user
}

/** Gives the tree to owner without following links (a link may point anywhere). */
async function chownTree (path: string, owner: JobUser): Promise<void> {
  const st = await lstat(path).catch(() => null)
  if (st === null) return
  if (st.uid !== owner.uid || st.gid !== owner.gid) await lchown(path, owner.uid, owner.gid)
  if (!st.isDirectory()) return
  for (const name of await readdir(path)) await chownTree(join(path, name), owner)
}

/** `[shell, '-c', script]` becomes `[shell, FILE]`; any other command stays as it is. */
async function scriptInFile (command: string[], dir: string): Promise<string[]> {
  if (command.length !== 3 || command[1] !== '-c') return command
  const file = join(dir, 'commands.sh')
  await writeFile(file, command[2]! + '\n', { mode: 0o644 })
  return [command[0]!, file]
}

export async function prepareWorkspace (a: WorkspaceInput): Promise<Workspace> {
  const { run, job, sub, dir } = a
  const configuration = run.spec.configuration as { user?: string | null, python?: string | null }
  // In a container `user` is the image's to know; its files stay the area's job user's.
  const user = a.container ? a.area.user : await jobUser(configuration.user ?? null, a.area)
  await mkdir(dir, { recursive: true, mode: 0o711 })
  const workingDir = jobWorkingDir(dir, job.spec.working_dir)
  await mkdir(workingDir, { recursive: true })
  // Each submission starts from the code the run was submitted with.
  const code = join(a.dataDir, 'code', run.id)
  if (run.spec.code_node && run.spec.code_node !== a.node && !await exists(code)) {
    if (!a.fetchCode) throw new Error(`the run's code is on node ${run.spec.code_node} and this node cannot fetch it`)
    await a.fetchCode(run, code)
  }
  if (await exists(code)) await cp(code, join(dir, 'work'), { recursive: true })
  if (run.spec.workflow) await prepareArtifacts(a.area.dir, run, workingDir, user ?? undefined)
  if (user) await chownTree(join(dir, 'work'), user)
  if (a.container) {
    const inside = containerJob({ configuration: run.spec.configuration, job: job.spec, dir, ...a.container })
    const env = await jobEnvironment({ state: a.state, run, job, sub, dir, workingDir: inside.workingDir, user: null, container: true })
    await scriptInFile(job.spec.command, dir)
    return { command: inside.command, env, workingDir: inside.workingDir, container: inside.container }
  }
  const env = await jobEnvironment({ state: a.state, run, job, sub, dir, workingDir, hostGpus: a.hostGpus, user })
  if (configuration.python) await providePython(configuration.python, join(dir, 'bin'), env, user ?? undefined)
  const command = await scriptInFile(job.spec.command, dir)
  return { command, env, workingDir, ...(user ? { user: { uid: user.uid, gid: user.gid, groups: user.groups, name: user.name } } : {}) }
}
