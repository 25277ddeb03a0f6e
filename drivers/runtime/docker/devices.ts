// Which accelerators a container sees: exactly the devices the scheduler gave its job
// (ContainerSpec.devices), none when it was given none.
//
// NVIDIA. With the NVIDIA Container Toolkit the engine serves a device request (driver
// `nvidia`, capability `gpu`) naming each GPU by UUID: the toolkit then mounts that GPU's node,
// the control nodes and the host's driver libraries (libcuda, nvidia-smi) matching its kernel
// module. Without the toolkit a device request fails ("could not select device driver"), so the
// container gets the device nodes themselves (/dev/nvidiaN of its GPUs, plus nvidiactl,
// nvidia-uvm and nvidia-uvm-tools where present): the job still sees only its own GPUs and the
// image must bring the driver's user-space libraries. In both cases CUDA_VISIBLE_DEVICES and
// NVIDIA_VISIBLE_DEVICES name the GPUs by UUID: a UUID means the same GPU whatever order CUDA
// enumerates them in inside the container (the host's index would not: with the toolkit the
// job's GPUs are renumbered from 0), and it keeps CUDA off the GPUs whose nodes are missing.
// A job with no NVIDIA GPU on a toolkit host gets NVIDIA_VISIBLE_DEVICES=void, so a CUDA image
// (whose ENV says `all`) under a default `nvidia` runtime is given nothing.
//
// AMD. /dev/kfd plus the job's render nodes (/dev/dri/renderD*), the way ROCm's own container
// guide restricts GPUs: ROCm skips GPUs whose render node it cannot open, so inside the
// container the job's GPUs are numbered 0..n-1 and the visibility variables say so. The device
// index is ROCm's (the order of the GPU nodes in the KFD topology), the one the process runtime
// puts in ROCR_VISIBLE_DEVICES.
//
// The device nodes' groups are added to the container's user, so a job running as a non-root
// user can open them. A job that asks for `privileged` (or `docker: true`) gets the capability
// fallback with a device cgroup rule that allows every device: like dstack's privileged jobs it
// is not confined to its GPUs.
import { constants } from 'node:fs'
import { access, readdir, readFile, stat } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import type Docker from 'dockerode'
import type { ContainerSpec, JobDevice } from '../types.ts'

/** What the host offers containers, found once by probeDeviceHost. */
export interface DeviceHost {
  /** Where the device nodes are: `/dev` (tests: a directory of stand-in nodes). */
  root: string
  /** The engine serves NVIDIA device requests (the NVIDIA Container Toolkit is installed). */
  nvidiaToolkit: boolean
  /** The device nodes present, relative to root (`nvidia0`, `nvidiactl`, `kfd`, `dri/renderD128`), with their group. */
  nodes: ReadonlyMap<string, { gid: number }>
  /** AMD: the render node (relative to root, `dri/renderD128`) of each ROCm device index. */
  amdRenderNodes: ReadonlyMap<number, string>
}

/** A host with no device nodes and no toolkit: a job given a GPU there cannot start. */
export const NO_DEVICES: DeviceHost = { root: '/dev', nvidiaToolkit: false, nodes: new Map(), amdRenderNodes: new Map() }

/** The parts of a container's configuration that give it its devices. */
export interface DeviceOptions {
  hostConfig: Pick<Docker.HostConfig, 'DeviceRequests' | 'Devices' | 'GroupAdd'>
  /** Applied over the job's own environment (it carries the host's device indices). */
  env: Record<string, string>
  /** What differs from a plain device request, for `ps -v` (JobInfo.notes). */
  notes: string[]
}

/** The nodes every NVIDIA GPU needs besides its own, passed when present. */
const NVIDIA_CONTROL_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools']

/**
 * The device part of a container's configuration for `container.devices`. Throws, naming the
 * device, when one cannot be given (its node is missing, its vendor is not supported): a job
 * must not run silently without the GPUs it was scheduled with.
 */
export function deviceOptions (container: ContainerSpec, host: DeviceHost): DeviceOptions {
  const devices = container.devices ?? []
  const out: DeviceOptions = { hostConfig: {}, env: {}, notes: [] }
  const nodes: string[] = []
  const nvidia = devices.filter(d => d.vendor === 'nvidia')
  const amd = devices.filter(d => d.vendor === 'amd')
  const other = devices.find(d => d.vendor !== 'nvidia' && d.vendor !== 'amd')
  if (other !== undefined) throw new Error(`devices: ${describe(other)}: ${other.vendor} accelerators are not supported in containers yet`)

  if (nvidia.length > 0) {
    const ids = nvidia.map(d => d.uuid ?? String(d.index))
    if (host.nvidiaToolkit) {
      out.hostConfig.DeviceRequests = [{ Driver: 'nvidia', DeviceIDs: ids, Capabilities: [['gpu']] }]
    } else {
      for (const d of nvidia) nodes.push(need(host, `nvidia${d.index}`, d))
      for (const name of NVIDIA_CONTROL_NODES) if (host.nodes.has(name)) nodes.push(name)
      out.notes.push(`no NVIDIA Container Toolkit: the GPUs' device nodes are passed (${nvidia.map(d => `/dev/nvidia${d.index}`).join(', ')}), the image must bring the driver's libraries`)
    }
    out.env.CUDA_VISIBLE_DEVICES = out.env.NVIDIA_VISIBLE_DEVICES = ids.join(',')
  } else if (host.nvidiaToolkit) {
    out.env.NVIDIA_VISIBLE_DEVICES = 'void'
  }

  if (amd.length > 0) {
    nodes.push(need(host, 'kfd', amd[0]!))
    for (const d of amd) {
      const render = host.amdRenderNodes.get(d.index)
      if (render === undefined) throw new Error(`devices: ${describe(d)}: no render node under ${join(host.root, 'dri')} belongs to it`)
      nodes.push(need(host, render, d))
    }
    out.env.ROCR_VISIBLE_DEVICES = out.env.HIP_VISIBLE_DEVICES = amd.map((_, i) => String(i)).join(',')
  }

  if (nodes.length > 0) {
    out.hostConfig.Devices = nodes.map(n => ({ PathOnHost: join(host.root, n), PathInContainer: join('/dev', n), CgroupPermissions: 'rwm' }))
    const groups = [...new Set(nodes.map(n => host.nodes.get(n)!.gid).filter(gid => gid !== 0))]
    if (groups.length > 0) out.hostConfig.GroupAdd = groups.map(String)
  }
  return out
}

function describe (d: JobDevice): string {
  return `${d.vendor} GPU ${d.index}${d.uuid === undefined ? '' : ` (${d.uuid})`}`
}

function need (host: DeviceHost, node: string, d: JobDevice): string {
  if (!host.nodes.has(node)) throw new Error(`devices: ${describe(d)}: ${join(host.root, node)} does not exist on this host`)
  return node
}

export interface ProbeOptions {
  /** Default `/dev`. */
  root?: string
  /** Default `/sys` (the KFD topology that orders AMD GPUs). */
  sysRoot?: string
  /** The engine's runtimes (`docker info`'s `Runtimes` keys): `nvidia` means the toolkit is there. */
  engineRuntimes?: readonly string[]
  /** Default: this process's PATH, searched for the toolkit's hook (what the engine itself looks for). */
  path?: string
}

/** The toolkit's programs the engine runs for an `nvidia` device request. */
const NVIDIA_HOOKS = ['nvidia-container-runtime-hook', 'nvidia-ctk']

/** Finds the host's device nodes and whether the engine can serve NVIDIA device requests. Never throws. */
export async function probeDeviceHost (opts: ProbeOptions = {}): Promise<DeviceHost> {
  const root = opts.root ?? '/dev'
  const candidates = [...NVIDIA_CONTROL_NODES, 'kfd']
  for (const name of await list(root)) if (/^nvidia\d+$/.test(name)) candidates.push(name)
  for (const name of await list(join(root, 'dri'))) if (/^renderD\d+$/.test(name)) candidates.push(`dri/${name}`)
  const nodes = new Map<string, { gid: number }>()
  await Promise.all(candidates.map(async name => {
    const s = await stat(join(root, name)).catch(() => null)
    if (s?.isCharacterDevice()) nodes.set(name, { gid: s.gid })
  }))
  const nvidiaToolkit = (opts.engineRuntimes ?? []).includes('nvidia') || await onPath(NVIDIA_HOOKS, opts.path ?? process.env.PATH ?? '')
  return { root, nvidiaToolkit, nodes, amdRenderNodes: await amdRenderNodes(opts.sysRoot ?? '/sys', [...nodes.keys()]) }
}

async function list (dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}

async function onPath (programs: readonly string[], path: string): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(d => d !== '')) {
    for (const p of programs) if (await access(join(dir, p), constants.X_OK).then(() => true, () => false)) return true
  }
  return false
}

/**
 * ROCm numbers GPUs in the order of the KFD topology's GPU nodes (those with SIMDs); each names
 * its render node's minor. Without a topology (no amdgpu driver): the render nodes in order.
 */
async function amdRenderNodes (sysRoot: string, nodes: readonly string[]): Promise<Map<number, string>> {
  const out = new Map<number, string>()
  const topology = join(sysRoot, 'class/kfd/kfd/topology/nodes')
  const entries = (await list(topology)).filter(n => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b)
  let index = 0
  for (const n of entries) {
    const props = await readFile(join(topology, String(n), 'properties'), 'utf8').catch(() => '')
    const simds = Number(/^simd_count\s+(\d+)/m.exec(props)?.[1] ?? 0)
    const minor = /^drm_render_minor\s+(\d+)/m.exec(props)?.[1]
    if (simds === 0 || minor === undefined) continue
    out.set(index++, `dri/renderD${minor}`)
  }
  if (entries.length === 0) {
    const renders = nodes.filter(n => n.startsWith('dri/renderD')).sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)))
    renders.forEach((n, i) => out.set(i, n))
  }
  return out
}
