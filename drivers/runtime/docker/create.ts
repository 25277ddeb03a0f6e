// What the engine is asked to create for a job: a JobSpec turned into the container's options.
// Plain data in, plain data out, so every field's mapping is testable without an engine.
import { createHash } from 'node:crypto'
import { join, relative, isAbsolute, sep } from 'node:path'
import type { ContainerCreateOptions } from 'dockerode'
import type { JobSpec } from '../types.ts'
import { deviceOptions, NO_DEVICES, type DeviceHost } from './devices.ts'
import { dockerInDocker, wantsPrivileges } from './dind.ts'

export type HostConfig = NonNullable<ContainerCreateOptions['HostConfig']>

/** Labels that find a job's container again after a daemon restart (and name it in the shared engine). */
export const JOB_LABEL = 'dstackd.job'
export const DIR_LABEL = 'dstackd.dir'

/**
 * The job's work folder: `<job dir>/work` on the host is `/workflow` in the container (dstack's
 * repository directory), so a host path the agent gives under it (workingDir, a variable's value)
 * has a container path: see containerPath.
 */
export const WORK_MOUNT = '/workflow'

/** The host folder mounted at WORK_MOUNT. */
export function hostWorkDir (dir: string): string {
  return join(dir, 'work')
}

/**
 * Where a host path of the job's work folder is inside the container; any other path is taken
 * as a path inside the container already.
 */
export function containerPath (dir: string, hostPath: string): string {
  const rel = relative(hostWorkDir(dir), hostPath)
  if (rel === '') return WORK_MOUNT
  if (rel.startsWith('..') || isAbsolute(rel)) return hostPath
  return `${WORK_MOUNT}/${rel.split(sep).join('/')}`
}

/** The capability set used where the engine refuses `privileged` (STACK.md, "no --privileged"). */
export function privilegedFallback (cgroupV1: boolean): HostConfig {
  return {
    CapAdd: ['ALL'],
    CapDrop: ['SYS_RESOURCE'],
    SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
    // What the CLI's `--security-opt systempaths=unconfined` means in the API: nothing of /proc or /sys masked.
    MaskedPaths: [],
    ReadonlyPaths: [],
    DeviceCgroupRules: ['a *:* rwm'],
    ...(cgroupV1 ? { CgroupnsMode: 'host' } : {})
  } as HostConfig
}

export const PRIVILEGED_NOTE = 'privileged: the engine refused --privileged here; the container got every capability but SYS_RESOURCE, all devices and no seccomp/AppArmor confinement instead'

export interface CreateChoices {
  /** 'engine': ask for Privileged; 'capabilities': the fallback set (the engine refused Privileged). */
  privileged: 'engine' | 'capabilities'
  cgroupV1: boolean
  /** The instance volumes to mount (optional ones whose host path is missing already left out). */
  volumes: Array<{ hostPath: string, path: string }>
  /** The host's device nodes and NVIDIA toolkit (probeDeviceHost), for the job's GPUs. Default: none. */
  devices?: DeviceHost
}

/** A container name unique to the job (id and directory): readable in `docker ps`, safe in a shared engine. */
export function containerName (id: string, dir: string): string {
  return `dstackd-${id.slice(0, 80)}-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`
}

/** The container's options, and what differs from what the job asked for (JobInfo.notes). Throws when a device cannot be given. */
export function createOptions (spec: JobSpec, dir: string, choices: CreateChoices): ContainerCreateOptions & { notes: string[] } {
  const c = spec.container
  if (!c) throw new Error(`job ${spec.id}: no container in the spec`)
  const devices = deviceOptions(c, choices.devices ?? NO_DEVICES)
  const dind = dockerInDocker(c, dir, choices.cgroupV1)
  // The job's variables carry the host's device indices; inside the container the devices' own apply.
  const env = { ...spec.env, ...devices.env }
  if (env.TERM === undefined) env.TERM = 'xterm-256color'
  const ports = c.ports ?? []
  const limits = spec.limits ?? {}
  const host: HostConfig = {
    Init: true, // an init as PID 1 forwards signals and reaps: stop is quick
    Binds: [`${hostWorkDir(dir)}:${WORK_MOUNT}`, ...choices.volumes.map(v => `${v.hostPath}:${v.path}`), ...(dind?.hostConfig.Binds ?? [])],
    ...(dind ? { Mounts: dind.hostConfig.Mounts, ...(dind.hostConfig.CgroupnsMode ? { CgroupnsMode: dind.hostConfig.CgroupnsMode } : {}) } : {}),
    PortBindings: Object.fromEntries(ports.map(p => [`${p.container}/tcp`, [{ HostIp: '127.0.0.1', HostPort: p.host ? String(p.host) : '' }]])),
    LogConfig: { Type: 'json-file', Config: {} },
    ...(c.shmSizeBytes ? { ShmSize: c.shmSizeBytes } : {}),
    ...(limits.memoryBytes ? { Memory: Math.floor(limits.memoryBytes), MemorySwap: Math.floor(limits.memoryBytes) } : {}),
    ...(limits.cpus ? { NanoCpus: Math.round(limits.cpus * 1e9) } : {}),
    ...(wantsPrivileges(c) ? (choices.privileged === 'engine' ? { Privileged: true } : privilegedFallback(choices.cgroupV1)) : {}),
    ...devices.hostConfig
  } as HostConfig
  const entrypoint = c.entrypoint && c.entrypoint.length > 0 ? c.entrypoint : null
  return {
    name: containerName(spec.id, dir),
    Image: c.image,
    // The image's own entrypoint is replaced, as dstack's runner does; `entrypoint` runs with
    // the job's command as its arguments. No command and no entrypoint: the image's own run.
    ...(entrypoint === null && spec.command.length === 0 && !dind
      ? {}
      : { Entrypoint: [...dind?.entrypointPrefix ?? [], ...entrypoint ?? spec.command], Cmd: entrypoint ? spec.command : [] }),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: containerPath(dir, spec.workingDir),
    // The user inside the image (or the image's own); JobSpec.user, a user of the host, does not apply.
    ...(c.user ? { User: c.user } : {}),
    Tty: true, // as the process runtime: a terminal, one merged stream
    Labels: { [JOB_LABEL]: spec.id, [DIR_LABEL]: dir },
    ExposedPorts: Object.fromEntries(ports.map(p => [`${p.container}/tcp`, {}])),
    HostConfig: host,
    notes: devices.notes
  }
}
