// What this host has: CPU, memory, disk, GPUs, addresses. GPUs come from the vendor's own tool,
// picked by device file the way dstack's shim picks it (shared/GPU-NAMES.md §1), and run
// asynchronously with a time limit. Names are reported as the tool printed them (trimmed where
// dstack trims); normalizing them is the daemon's business.
//
// No systeminformation: its graphics() runs nvidia-smi synchronously (it would stall the event
// loop), fsSize() spawns df and osInfo() several programs, and importing it adds 150-300 ms to
// every dstackd start. What the inventory needs is cheaper from Node itself: the CPUs this
// process may use (availableParallelism, which honours CPU affinity), total memory, statfs of
// the data dir and /etc/os-release — no process spawned, nothing blocking.
import { execFile } from 'node:child_process'
import { access, readFile, statfs } from 'node:fs/promises'
import os from 'node:os'
import { dirname, resolve } from 'node:path'
import { engineEndpoint, probeEngine, type EngineEndpoint, type EngineFacts } from './engine.ts'

export type GpuVendor = 'nvidia' | 'amd' | 'intel'

export interface ReportedGpu {
  vendor: GpuVendor
  /** As the tool printed it: nvidia-smi and hl-smi names trimmed, amd-smi's `market_name` as-is. */
  name: string
  /** As the tool reported it, in MiB (amd-smi says "MB" but means MiB). 0 when not reported. */
  memoryMib: number
  /** NVIDIA only: `GPU-xxxxxxxx-…`. */
  uuid?: string
  /** The device index the vendor's runtime uses. */
  index: number
}

export interface Inventory {
  hostname: string
  /** `x86` or `arm`; any other machine as `os.machine()` names it. */
  cpuArch: 'x86' | 'arm' | string
  /** Logical CPUs this process may run on. */
  cpus: number
  memoryBytes: number
  /** Total size of the filesystem holding `diskPath`. */
  diskBytes: number
  /** What an unprivileged user can still write there. */
  diskFreeBytes: number
  gpus: ReportedGpu[]
  gpuDriver?: string
  /** Non-internal IPv4 addresses. */
  addresses: string[]
  /** `Debian GNU/Linux 12 (bookworm), Linux 6.1.0-18-amd64`. */
  os: string
  /** What could not be found out, for humans: a GPU tool missing or failing, a disk not readable. */
  warnings: string[]
  /** The container engine that answers here, or null (containerEngineWhy says why). */
  containerEngine: EngineFacts | null
  containerEngineWhy?: string
}

/** Runs a program and gives its stdout; rejects when it cannot start, fails or times out. */
export type ExecFn = (file: string, args: string[]) => Promise<{ stdout: string }>

export interface InventoryOptions {
  /** A path on the filesystem to report (the data dir). Default `/`. */
  diskPath?: string
  /** How GPU tools are run; tests pass captured outputs. Default: `execFile` with a 5 s limit. */
  exec?: ExecFn
  /** Whether a device file exists; tests stand in a host with GPUs. Default: `fs.access`. */
  exists?: (path: string) => Promise<boolean>
  /** Reads a small text file (`/etc/os-release`, a driver version); tests stand in a host. */
  readText?: (path: string) => Promise<string>
  /** Where to ask for a container engine (default: DOCKER_HOST, else /var/run/docker.sock); null: do not look. */
  engine?: EngineEndpoint | null
}

/** Every GPU tool call ends within this. */
export const TOOL_TIMEOUT_MS = 5000

export const NVIDIA_SMI_ARGS = ['--query-gpu=name,memory.total,uuid,driver_version', '--format=csv,noheader,nounits']
export const AMD_SMI_ARGS = ['static', '--json', '--asic', '--vram', '--bus']
export const HL_SMI_ARGS = ['--query-aip=name,memory.total,index', '--format=csv,noheader,nounits']

/** The default ExecFn: asynchronous, time-boxed, killed hard on timeout. */
export const execTool: ExecFn = (file, args) => new Promise((resolve, reject) => {
  execFile(file, args, { timeout: TOOL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
    if (err) {
      const e = err as Error & { stderr?: string }
      e.stderr = stderr
      reject(e)
    } else {
      resolve({ stdout })
    }
  })
})

const pathExists = (path: string): Promise<boolean> => access(path).then(() => true, () => false)
const readTextFile = (path: string): Promise<string> => readFile(path, 'utf8')

export async function getInventory (opts: InventoryOptions = {}): Promise<Inventory> {
  const exec = opts.exec ?? execTool
  const exists = opts.exists ?? pathExists
  const readText = opts.readText ?? readTextFile
  const warnings: string[] = []

  const [disk, gpu, osName, engine] = await Promise.all([
    diskOf(opts.diskPath ?? '/', warnings),
    detectGpus({ exec, exists, readText }, warnings),
    osDescription(readText),
    engineOf(opts.engine)
  ])

  const inventory: Inventory = {
    hostname: os.hostname(),
    cpuArch: cpuArch(process.arch, os.machine()),
    cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memoryBytes: os.totalmem(),
    diskBytes: disk.total,
    diskFreeBytes: disk.free,
    gpus: gpu.gpus,
    addresses: ipv4Addresses(),
    os: osName,
    warnings,
    containerEngine: engine.engine,
    ...(engine.engine === null ? { containerEngineWhy: engine.why } : {})
  }
  if (gpu.driver !== undefined) inventory.gpuDriver = gpu.driver
  return inventory
}

async function engineOf (endpoint: EngineEndpoint | null | undefined): Promise<Awaited<ReturnType<typeof probeEngine>>> {
  if (endpoint === null) return { engine: null, why: 'containers are off on this host' }
  try {
    return await probeEngine(endpoint ?? engineEndpoint())
  } catch (err) {
    return { engine: null, why: (err as Error).message }
  }
}

/** `x64` → `x86`, `arm64` → `arm`, as dstack's `cpu_arch` names them. */
export function cpuArch (arch: string, machine: string): string {
  const known: Record<string, string> = { x64: 'x86', ia32: 'x86', x86_64: 'x86', amd64: 'x86', i686: 'x86', arm64: 'arm', aarch64: 'arm', arm: 'arm' }
  return known[arch] ?? known[machine] ?? machine
}

function ipv4Addresses (): string[] {
  const out: string[] = []
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      // Node 18.0–18.3 reported family as a number.
      if ((a.family === 'IPv4' || (a.family as unknown) === 4) && !a.internal) out.push(a.address)
    }
  }
  return out
}

async function osDescription (readText: (path: string) => Promise<string>): Promise<string> {
  const kernel = `${os.type()} ${os.release()}`
  try {
    const text = await readText('/etc/os-release')
    const pretty = /^PRETTY_NAME=(.*)$/m.exec(text)?.[1]?.trim().replace(/^(["'])(.*)\1$/, '$2')
    if (pretty) return `${pretty}, ${kernel}`
  } catch { /* not every system has it (macOS) */ }
  return kernel
}

/** The filesystem holding `path`; a path not created yet is measured at its nearest parent. */
async function diskOf (path: string, warnings: string[]): Promise<{ total: number, free: number }> {
  let at = resolve(path)
  for (;;) {
    try {
      const s = await statfs(at)
      return { total: s.blocks * s.bsize, free: s.bavail * s.bsize }
    } catch (err) {
      const parent = dirname(at)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) {
        warnings.push(`disk: cannot measure the filesystem of ${path}: ${(err as Error).message}`)
        return { total: 0, free: 0 }
      }
      at = parent
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GPUs

interface GpuProbe {
  exec: ExecFn
  exists: (path: string) => Promise<boolean>
  readText: (path: string) => Promise<string>
}

export interface GpuReport {
  gpus: ReportedGpu[]
  driver?: string
}

const WSL_NVIDIA_SMI = '/usr/lib/wsl/lib/nvidia-smi'

/**
 * Which accelerator the host has, by device file, in dstack's order: the unambiguous paths
 * first (an AMD iGPU beside an NVIDIA card must not make the host AMD), then /dev/kfd before
 * the vendor-neutral /dev/accel.
 */
export async function detectGpuVendor (exists: (path: string) => Promise<boolean>): Promise<{ vendor: GpuVendor | 'tenstorrent', device: string, tool?: string } | undefined> {
  if (await exists('/dev/nvidiactl')) return { vendor: 'nvidia', device: '/dev/nvidiactl' }
  if (await exists('/dev/dxg') && await exists(WSL_NVIDIA_SMI)) return { vendor: 'nvidia', device: '/dev/dxg', tool: WSL_NVIDIA_SMI }
  if (await exists('/dev/tenstorrent')) return { vendor: 'tenstorrent', device: '/dev/tenstorrent' }
  if (await exists('/dev/kfd')) return { vendor: 'amd', device: '/dev/kfd' }
  if (await exists('/dev/accel')) return { vendor: 'intel', device: '/dev/accel' }
  return undefined
}

async function detectGpus (probe: GpuProbe, warnings: string[]): Promise<GpuReport> {
  const found = await detectGpuVendor(probe.exists)
  if (found === undefined) return { gpus: [] }
  if (found.vendor === 'tenstorrent') {
    warnings.push('gpus: Tenstorrent devices found (/dev/tenstorrent), but this version does not report them')
    return { gpus: [] }
  }
  const tool = found.tool ?? { nvidia: 'nvidia-smi', amd: 'amd-smi', intel: 'hl-smi' }[found.vendor]
  const args = { nvidia: NVIDIA_SMI_ARGS, amd: AMD_SMI_ARGS, intel: HL_SMI_ARGS }[found.vendor]
  let stdout: string
  try {
    stdout = (await probe.exec(tool, args)).stdout
  } catch (err) {
    warnings.push(`gpus: ${found.device} is present but ${toolFailure(tool, err)}; reporting no ${found.vendor} GPUs`)
    return { gpus: [] }
  }
  const parsed = found.vendor === 'nvidia'
    ? parseNvidiaSmi(stdout)
    : found.vendor === 'amd' ? parseAmdSmi(stdout) : parseHlSmi(stdout)
  for (const w of parsed.warnings) warnings.push(`gpus: ${tool}: ${w}`)
  if (parsed.gpus.length === 0 && parsed.warnings.length === 0) {
    warnings.push(`gpus: ${found.device} is present but ${tool} reported no devices`)
  }
  const report: GpuReport = { gpus: parsed.gpus }
  const driver = parsed.driver ?? await moduleVersion(probe.readText, found.vendor)
  if (driver !== undefined) report.driver = driver
  return report
}

function toolFailure (tool: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException & { killed?: boolean, signal?: string, stderr?: string, code?: string | number }
  if (e.code === 'ENOENT') return `${tool} is not installed (not found on PATH)`
  if (e.code === 'EACCES') return `${tool} cannot be run (permission denied)`
  if (e.killed === true || e.code === 'ETIMEDOUT') return `${tool} did not answer within ${TOOL_TIMEOUT_MS / 1000} s`
  const detail = firstLine(e.stderr) ?? firstLine(e.message) ?? String(err)
  return `${tool} failed${typeof e.code === 'number' ? ` (exit code ${e.code})` : ''}: ${detail}`
}

function firstLine (s: string | undefined): string | undefined {
  const line = s?.split('\n').map(l => l.trim()).find(l => l !== '')
  return line === undefined ? undefined : line.slice(0, 300)
}

/** AMD and Gaudi tools here do not print the driver version; the kernel module does. */
async function moduleVersion (readText: (path: string) => Promise<string>, vendor: GpuVendor): Promise<string | undefined> {
  const module = { nvidia: 'nvidia', amd: 'amdgpu', intel: 'habanalabs' }[vendor]
  try {
    return filled(await readText(`/sys/module/${module}/version`))
  } catch {
    return undefined
  }
}

/** The value, trimmed, unless it is a placeholder the tools print for a field they cannot fill. */
function filled (value: string | undefined): string | undefined {
  const v = value?.trim() ?? ''
  if (v === '' || /^\[?(n\/a|unknown|not supported|not available)\]?$/i.test(v)) return undefined
  return v
}

/** What one tool's output says: the GPUs, the driver when printed, and what did not parse. */
export interface ToolReport extends GpuReport {
  warnings: string[]
}

/** Splits one CSV record the way Go's encoding/csv does for these tools (quotes allowed). */
function csvFields (line: string): string[] {
  const fields: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { field += '"'; i++ } else if (ch === '"') quoted = false
      else field += ch
    } else if (ch === '"' && field.trim() === '') {
      quoted = true
      field = ''
    } else if (ch === ',') {
      fields.push(field)
      field = ''
    } else {
      field += ch
    }
  }
  fields.push(field)
  return fields
}

function csvRecords (stdout: string): string[][] {
  return stdout.split(/\r?\n/).filter(l => l.trim() !== '').map(csvFields)
}

function mib (value: string | undefined): number | undefined {
  const v = value?.trim() ?? ''
  if (!/^\d+(\.\d+)?$/.test(v)) return undefined
  return Math.round(Number(v))
}

/** `nvidia-smi --query-gpu=name,memory.total,uuid,driver_version --format=csv,noheader,nounits` */
export function parseNvidiaSmi (stdout: string): ToolReport {
  const out: ToolReport = { gpus: [], warnings: [] }
  for (const fields of csvRecords(stdout)) {
    if (fields.length !== 4) {
      out.warnings.push(`expected 4 fields, got ${fields.length}: ${JSON.stringify(fields.join(',').slice(0, 200))}`)
      continue
    }
    const [name, memory, uuid, driver] = fields.map(f => f.trim()) as [string, string, string, string]
    const memoryMib = mib(memory)
    if (memoryMib === undefined) out.warnings.push(`GPU ${out.gpus.length} (${name}): memory ${JSON.stringify(memory)} is not a number`)
    const gpu: ReportedGpu = { vendor: 'nvidia', name, memoryMib: memoryMib ?? 0, index: out.gpus.length }
    if (uuid !== '' && filled(uuid) !== undefined) gpu.uuid = uuid
    out.gpus.push(gpu)
    out.driver ??= filled(driver)
  }
  return out
}

/** `hl-smi --query-aip=name,memory.total,index --format=csv,noheader,nounits` */
export function parseHlSmi (stdout: string): ToolReport {
  const out: ToolReport = { gpus: [], warnings: [] }
  for (const fields of csvRecords(stdout)) {
    if (fields.length !== 3) {
      out.warnings.push(`expected 3 fields, got ${fields.length}: ${JSON.stringify(fields.join(',').slice(0, 200))}`)
      continue
    }
    const [name, memory, index] = fields.map(f => f.trim()) as [string, string, string]
    const memoryMib = mib(memory)
    if (memoryMib === undefined) out.warnings.push(`accelerator ${index} (${name}): memory ${JSON.stringify(memory)} is not a number`)
    const i = /^\d+$/.test(index) ? Number(index) : out.gpus.length
    out.gpus.push({ vendor: 'intel', name, memoryMib: memoryMib ?? 0, index: i })
  }
  return out
}

/**
 * `amd-smi static --json --asic --vram --bus`: a flat array (ROCm 6) or `{"gpu_data": [...]}`
 * (ROCm 7). The name is `asic.market_name` as-is; the memory `vram.size.value` (MiB).
 */
export function parseAmdSmi (stdout: string): ToolReport {
  const out: ToolReport = { gpus: [], warnings: [] }
  let doc: unknown
  try {
    doc = JSON.parse(stdout)
  } catch (err) {
    out.warnings.push(`output is not JSON: ${(err as Error).message}`)
    return out
  }
  const list = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.gpu_data) ? doc.gpu_data : undefined
  if (list === undefined) {
    out.warnings.push('output is neither a list of GPUs nor {"gpu_data": [...]}')
    return out
  }
  list.forEach((entry: unknown, position: number) => {
    if (!isRecord(entry)) {
      out.warnings.push(`entry ${position} is not an object`)
      return
    }
    const asic = isRecord(entry.asic) ? entry.asic : {}
    const vram = isRecord(entry.vram) ? entry.vram : {}
    const size = isRecord(vram.size) ? vram.size.value : vram.size
    const index = typeof entry.gpu === 'number' && Number.isInteger(entry.gpu) ? entry.gpu : position
    const name = typeof asic.market_name === 'string' ? asic.market_name : ''
    if (name === '') out.warnings.push(`GPU ${index}: no asic.market_name`)
    const memoryMib = typeof size === 'number' ? Math.round(size) : typeof size === 'string' ? mib(size) : undefined
    if (memoryMib === undefined) out.warnings.push(`GPU ${index} (${name}): vram.size.value ${JSON.stringify(size)} is not a number`)
    out.gpus.push({ vendor: 'amd', name, memoryMib: memoryMib ?? 0, index })
    if (out.driver === undefined && isRecord(entry.driver)) {
      const d = entry.driver
      out.driver = filled(typeof d.version === 'string' ? d.version : typeof d.driver_version === 'string' ? d.driver_version : undefined)
    }
  })
  return out
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
