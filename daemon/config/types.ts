// The normalized shapes the configuration language produces. Field names are dstack's YAML
// names (snake_case); sizes are GB (base 1024); durations are seconds; a range is {min, max}
// with null for an open end.

export interface Range { min: number | null, max: number | null }

export const GPU_VENDORS = ['nvidia', 'amd', 'google', 'intel', 'tenstorrent'] as const
export type GpuVendor = typeof GPU_VENDORS[number]

export const CPU_ARCHES = ['x86', 'arm'] as const
export type CpuArch = typeof CPU_ARCHES[number]

export interface CpuSpec { arch: CpuArch | null, count: Range }

export interface GpuSpec {
  vendor: GpuVendor | null
  name: string[] | null
  count: Range
  /** Per-GPU memory, GB. */
  memory: Range | null
  total_memory: Range | null
  /** A minimum, [major, minor]. */
  compute_capability: [number, number] | null
}

export interface DiskSpec { size: Range }

export interface ResourcesSpec {
  cpu: CpuSpec
  memory: Range
  shm_size: number | null
  gpu: GpuSpec
  disk: DiskSpec | null
}

/** A value of null means "pass through": taken from `-e NAME=…` or the local environment at apply time. */
export type EnvSpec = Record<string, string | null>

export interface PortMapping {
  /** null for `*:C`: any free local port. */
  local_port: number | null
  container_port: number
}

export interface VolumeMountPoint { name: string | string[], path: string }
export interface InstanceMountPoint { instance_path: string, path: string, optional: boolean }
export type MountPoint = VolumeMountPoint | InstanceMountPoint

export interface RepoSpec {
  local_path: string | null
  url: string | null
  branch: string | null
  hash: string | null
  path: string
  if_exists: 'error' | 'skip'
}

export interface FileMapping { local_path: string, path: string }
