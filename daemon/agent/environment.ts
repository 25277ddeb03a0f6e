// The job's environment (SPEC §3.7): the system DSTACK_* variables, then the user's env, which
// may override them; HOME (and, for a job run as another user, USER and LOGNAME) last. A process job also gets the host's PATH and locale, since it
// runs on the host rather than in an image. A job in a container gets nothing of the host's:
// its image says PATH and HOME, and its DSTACK_* paths are the container's (container.ts).
import { writeFile } from 'node:fs/promises'
import { join, normalize, sep } from 'node:path'
import { latest } from '../state/lifecycle.ts'
import type { Job, JobSubmission, Run, State } from '../state/types.ts'
import { CONTAINER_HOSTFILE, CONTAINER_REPO_DIR } from './container.ts'

/** The host directory a job's working_dir maps to: inside the job's own directory. */
export function jobWorkingDir (jobDir: string, workingDir: string | null): string {
  const root = join(jobDir, 'work')
  if (workingDir === null || workingDir === '~' || workingDir === '/') return root
  const inside = normalize(join(root, workingDir.replace(/^~\/?/, '')))
  return inside.startsWith(root + sep) || inside === root ? inside : root
}

const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE']

/** The variables each vendor's runtime reads to pick which devices a process sees. */
const VISIBLE_DEVICES: Record<string, string[]> = {
  nvidia: ['CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES'],
  amd: ['ROCR_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES'],
  intel: ['HABANA_VISIBLE_MODULES'],
  tenstorrent: ['TT_VISIBLE_DEVICES']
}

/** This host's accelerators as the agent knows them: vendor, device index and (NVIDIA) UUID, in offer order. */
export interface HostGpu { vendor: string, index: number, uuid?: string }

/**
 * A process job sees only the GPUs it was given (a job that asked for none sees none), so jobs
 * sharing a host do not trample each other's devices.
 */
export function gpuVisibility (hostGpus: readonly HostGpu[], slots: readonly number[]): Record<string, string> {
  if (hostGpus.length === 0) return {}
  const env: Record<string, string> = {}
  for (const vendor of new Set(hostGpus.map(g => g.vendor))) {
    const ids = slots.map(s => hostGpus[s]).filter(g => g !== undefined && g.vendor === vendor).map(g => String(g!.index))
    for (const name of VISIBLE_DEVICES[vendor] ?? []) env[name] = ids.join(',')
  }
  return env
}

export async function jobEnvironment (a: {
  state: State, run: Run, job: Job, sub: JobSubmission, dir: string, workingDir: string, hostGpus?: readonly HostGpu[], user?: { name: string, home: string | null } | null
  /** The job runs in a container: `workingDir` is the container's, and nothing of the host's goes in. */
  container?: boolean
}): Promise<Record<string, string>> {
  const { state, run, job, sub } = a
  const replica = run.job_ids.map(id => state.jobs[id]!).filter(j => j.spec.replica_num === job.spec.replica_num)
    .sort((x, y) => x.spec.job_num - y.spec.job_num)
  const ips = replica.map(j => latest(j).placement?.address ?? '')
  const gpus = replica.map(j => latest(j).placement?.gpus ?? 0)
  const hostfile = join(a.dir, 'mpi-hostfile')
  await writeFile(hostfile, ips.some(ip => ip === '') ? '' : ips.map((ip, i) => gpus[i] ? `${ip} slots=${gpus[i]}` : ip).join('\n') + '\n')
  const env: Record<string, string> = {}
  const container = a.container === true
  if (!container) for (const k of INHERITED) if (process.env[k] !== undefined) env[k] = process.env[k]!
  Object.assign(env, {
    TERM: 'xterm-256color',
    DSTACK_RUN_ID: run.id,
    DSTACK_JOB_ID: sub.id,
    DSTACK_RUN_NAME: run.name,
    DSTACK_REPO_ID: 'none',
    DSTACK_REPO_DIR: container ? CONTAINER_REPO_DIR : join(a.dir, 'work'),
    DSTACK_WORKING_DIR: a.workingDir,
    DSTACK_NODES_IPS: ips.join('\n'),
    DSTACK_MASTER_NODE_IP: ips[0] ?? '',
    DSTACK_NODE_RANK: String(job.spec.job_num),
    DSTACK_NODES_NUM: String(job.spec.jobs_per_replica),
    DSTACK_GPUS_PER_NODE: String(sub.placement?.gpus ?? 0),
    DSTACK_GPUS_NUM: String(gpus.reduce((x, y) => x + y, 0)),
    DSTACK_MPI_HOSTFILE: container ? CONTAINER_HOSTFILE : hostfile
  })
  // A container sees only its devices (device requests): the variables would only misnumber them.
  if (!container) Object.assign(env, gpuVisibility(a.hostGpus ?? [], sub.placement?.gpu_slots ?? []))
  // An SSH fleet's `env` (SPEC §1.8), under the run's own.
  const instance = sub.placement ? state.instances[sub.placement.instance] : undefined
  const fleetEnv = instance ? Object.values(state.fleets).find(f => f.name === instance.fleet)?.ssh?.env : undefined
  if (fleetEnv) Object.assign(env, fleetEnv)
  Object.assign(env, job.spec.env)
  // In a container HOME is the image user's (the engine sets it from the image's passwd).
  if (container) return env
  if (a.user) {
    // A job run as another user is that user, with a home it can write.
    env.USER = env.LOGNAME = a.user.name
    env.HOME = a.user.home ?? a.workingDir
  } else {
    env.HOME = process.env.HOME ?? '/root'
  }
  return env
}
