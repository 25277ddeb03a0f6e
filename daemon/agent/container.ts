// What a job that runs in a container asks of the docker runtime (drivers/runtime/types.ts,
// ContainerSpec), from its run configuration: one pure function, so every field's rule sits
// in one table test. Which jobs run in one is runtimeFor's judgement.
//
// Inside the container the job sees dstack's paths, not the host's: its code at /workflow
// (the repository directory: the runtime mounts the job's work/ there), the MPI hostfile at
// /dstack/mpi/hostfile (SPEC §3.7), its script at /dstack/commands.sh (bind mounts of the
// job's directory).
import { join, posix } from 'node:path'
import { needsContainer, type RunConfiguration } from '../config/index.ts'
import { WORK_MOUNT, type ContainerSpec, type JobDevice } from '../../drivers/runtime/index.ts'
import { shellSplit } from '../state/jobs.ts'
import type { JobSpec } from '../state/types.ts'

export const CONTAINER_REPO_DIR = WORK_MOUNT
export const CONTAINER_HOSTFILE = '/dstack/mpi/hostfile'
export const CONTAINER_SCRIPT = '/dstack/commands.sh'

/** How this host runs jobs: `auto` runs in a container exactly the jobs that need one. */
export type RuntimeMode = 'auto' | 'docker' | 'process'
export const RUNTIME_MODES: readonly RuntimeMode[] = ['auto', 'docker', 'process']

/** Which runtime runs a job of configuration `c` on a host set to `mode`. */
export function runtimeFor (mode: RuntimeMode, c: RunConfiguration): 'docker' | 'process' {
  if (mode === 'docker') return 'docker'
  if (mode === 'process') return 'process'
  return needsContainer(c) ? 'docker' : 'process'
}

/** The working directory inside the container: relative to /workflow; `~` and none are /workflow. */
export function containerWorkingDir (workingDir: string | null): string {
  if (workingDir === null || workingDir === '' || workingDir === '~' || workingDir.startsWith('~/')) {
    return posix.join(CONTAINER_REPO_DIR, workingDir?.slice(2) ?? '')
  }
  return posix.isAbsolute(workingDir) ? posix.normalize(workingDir) : posix.join(CONTAINER_REPO_DIR, workingDir)
}

export interface ContainerJobInput {
  configuration: RunConfiguration
  job: JobSpec
  /** The image to run (the configuration's, else the one the host chose for it). */
  image: string
  /** The job's directory on the host (holds work/, mpi-hostfile, commands.sh). */
  dir: string
  /** registry_auth, resolved (agent/registry-auth.ts); never logged. */
  registryAuth?: ContainerSpec['registryAuth']
  /** The accelerators the scheduler gave the job. */
  devices?: JobDevice[]
}

export interface ContainerJob {
  container: ContainerSpec
  /** argv: after `container.entrypoint` when there is one, else the whole command (the image's entrypoint replaced). */
  command: string[]
  workingDir: string
}

const GIB = 1024 ** 3

/** The container side of a job; throws (with what and where) on what cannot run in one. */
export function containerJob (a: ContainerJobInput): ContainerJob {
  const c = a.configuration
  const { entrypoint, command } = entrypointAndCommand(c, a.job.command)
  const container: ContainerSpec = {
    image: a.image,
    registryAuth: a.registryAuth ?? null,
    entrypoint,
    user: c.user,
    privileged: c.privileged || c.docker === true,
    shmSizeBytes: a.job.resources.shm_size === null ? null : Math.round(a.job.resources.shm_size * GIB),
    ports: portsOf(c, a.job),
    volumes: [...instanceVolumes(c), ...jobMounts(a.dir)],
    devices: a.devices ?? [],
    docker: c.docker === true
  }
  return { container, command, workingDir: containerWorkingDir(a.job.working_dir) }
}

/**
 * SPEC §3.7: `entrypoint` replaces the image's and the commands follow it (jobSpecsFor put
 * both in the job's command); a script `[shell, -c, …]` runs from its file.
 */
function entrypointAndCommand (c: RunConfiguration, argv: readonly string[]): { entrypoint: string[] | null, command: string[] } {
  const own = c.type !== 'dev-environment' && c.entrypoint !== null ? shellSplit(c.entrypoint) : []
  if (own.length > 0) return { entrypoint: own, command: argv.slice(own.length) }
  if (argv.length === 3 && argv[1] === '-c') return { entrypoint: null, command: [argv[0]!, CONTAINER_SCRIPT] }
  return { entrypoint: null, command: [...argv] }
}

/** Container ports published on a free port of 127.0.0.1: the task's `ports`, a service's `port`. */
function portsOf (c: RunConfiguration, job: JobSpec): Array<{ container: number, host: number }> {
  const ports = job.ports.map(p => p.container_port)
  if (c.type === 'service') ports.push(c.port.container_port)
  return [...new Set(ports)].map(p => ({ container: p, host: 0 }))
}

/** Instance volumes (`/host:/container`, `{instance_path, path, optional}`); network volumes are refused. */
function instanceVolumes (c: RunConfiguration): NonNullable<ContainerSpec['volumes']> {
  return c.volumes.map((v, i) => {
    if ('instance_path' in v) return { hostPath: v.instance_path, path: v.path, optional: v.optional }
    throw new Error(`volumes[${i}]: network volume ${JSON.stringify(v.name)} is not supported yet; mount a host directory instead (\`/host/path:${v.path}\`)`)
  })
}

/** The job's own files, at dstack's paths (its work/ the runtime mounts itself). */
function jobMounts (dir: string): NonNullable<ContainerSpec['volumes']> {
  return [
    { hostPath: join(dir, 'mpi-hostfile'), path: CONTAINER_HOSTFILE },
    { hostPath: join(dir, 'commands.sh'), path: CONTAINER_SCRIPT, optional: true }
  ]
}
