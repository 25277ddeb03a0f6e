import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AMD_SMI_ARGS, HL_SMI_ARGS, NVIDIA_SMI_ARGS, cpuArch, detectGpuVendor, execTool, getInventory, parseAmdSmi, parseHlSmi, parseNvidiaSmi,
  type ExecFn, type InventoryOptions
} from '../../../drivers/host/index.ts'
import { normalizeGpuName, snapGpuMemoryGib } from '../../../daemon/config/index.ts'
import { H100_SXM } from './fixtures.ts'

// Captured outputs (shapes as the tools print them).
const NVIDIA_TWO_H100 = 'NVIDIA H100 80GB HBM3, 81559, GPU-abc12345-6789-0abc-def0-123456789abc, 550.54.15\n' +
  'NVIDIA H100 80GB HBM3, 81559, GPU-def67890-1234-5678-9abc-def012345678, 550.54.15\n'

const AMD_ROCM6 = JSON.stringify([
  { gpu: 0, asic: { market_name: 'AMD Instinct MI300X', vendor_id: '0x1002', device_id: '0x74a1' }, bus: { bdf: '0000:0c:00.0' }, vram: { type: 'HBM', size: { value: 196592, unit: 'MB' } } },
  { gpu: 1, asic: { market_name: 'AMD Instinct MI300X', vendor_id: '0x1002', device_id: '0x74a1' }, bus: { bdf: '0000:22:00.0' }, vram: { type: 'HBM', size: { value: 196592, unit: 'MB' } } }
], null, 2)

const AMD_ROCM7 = JSON.stringify({
  gpu_data: [
    { gpu: 0, asic: { market_name: 'AMD Instinct MI325X VF ' }, bus: { bdf: '0000:05:00.0' }, vram: { size: { value: 262128, unit: 'MB' } }, driver: { name: 'amdgpu', version: '6.12.12' } }
  ]
})

const HL_SMI_GAUDI2 = 'HL-225, 98304, 0\nHL-225, 98304, 1\n'

/** A host with the given device files whose tools answer from `outputs` (or fail with `errors`). */
function host (devices: string[], outputs: Record<string, string>, errors: Record<string, Error> = {}): InventoryOptions & { calls: Array<[string, string[]]> } {
  const calls: Array<[string, string[]]> = []
  const exec: ExecFn = async (file, args) => {
    calls.push([file, args])
    if (errors[file]) throw errors[file]
    if (outputs[file] === undefined) throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' })
    return { stdout: outputs[file]! }
  }
  return {
    calls,
    exec,
    exists: async path => devices.includes(path),
    readText: async path => {
      if (path === '/etc/os-release') return 'NAME="Test"\nPRETTY_NAME="Test Linux 1 (fake)"\n'
      if (path === '/sys/module/amdgpu/version') return '6.10.5\n'
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
    }
  }
}

test('the real host: sane CPU, memory and disk; GPUs only where a vendor device file is', async () => {
  const inv = await getInventory()
  assert.ok(inv.hostname.length > 0)
  assert.ok(['x86', 'arm'].includes(inv.cpuArch), inv.cpuArch)
  assert.ok(Number.isInteger(inv.cpus) && inv.cpus >= 1 && inv.cpus <= 4096)
  assert.ok(inv.memoryBytes > 256 * 1024 ** 2 && inv.memoryBytes < 64 * 1024 ** 4)
  assert.ok(inv.diskBytes > 100 * 1024 ** 2, `disk ${inv.diskBytes}`)
  assert.ok(inv.diskFreeBytes >= 0 && inv.diskFreeBytes <= inv.diskBytes)
  for (const a of inv.addresses) assert.match(a, /^\d{1,3}(\.\d{1,3}){3}$/)
  assert.not.ok(inv.addresses.includes('127.0.0.1'))
  assert.match(inv.os, /Linux/)
  assert.equal(inv.warnings, [])
  // The same suite runs on GPU hosts (scripts/gpu/check.sh): there the GPUs must be reported.
  const vendor = await detectGpuVendor(path => access(path).then(() => true, () => false))
  if (vendor === undefined) {
    assert.equal(inv.gpus, [])
    assert.is(inv.gpuDriver, undefined)
  } else {
    assert.ok(inv.gpus.length > 0, `${vendor.device} is present but no GPUs were reported`)
    for (const [i, g] of inv.gpus.entries()) {
      assert.is(g.vendor, vendor.vendor)
      assert.ok(g.name.trim() !== '' && g.memoryMib > 0, JSON.stringify(g))
      if (g.vendor === 'nvidia') assert.is(g.index, i)
    }
    assert.ok(inv.gpuDriver !== undefined && inv.gpuDriver !== '')
  }
})

test('the real host: a data dir not created yet is measured at its parent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'inv-'))
  const inv = await getInventory({ diskPath: join(dir, 'not', 'yet') })
  assert.ok(inv.diskBytes > 0)
  assert.equal(inv.warnings, [])
  await rm(dir, { recursive: true, force: true })
})

test('cpuArch: x64 → x86, arm64 → arm, others as the machine names them', () => {
  assert.is(cpuArch('x64', 'x86_64'), 'x86')
  assert.is(cpuArch('arm64', 'aarch64'), 'arm')
  assert.is(cpuArch('riscv64', 'riscv64'), 'riscv64')
})

test('nvidia: two H100s from captured nvidia-smi CSV', async () => {
  const h = host(['/dev/nvidiactl'], { 'nvidia-smi': NVIDIA_TWO_H100 })
  const inv = await getInventory(h)
  assert.equal(h.calls, [['nvidia-smi', NVIDIA_SMI_ARGS]])
  assert.equal(NVIDIA_SMI_ARGS, ['--query-gpu=name,memory.total,uuid,driver_version', '--format=csv,noheader,nounits'])
  assert.equal(inv.gpus, [
    { vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryMib: 81559, uuid: 'GPU-abc12345-6789-0abc-def0-123456789abc', index: 0 },
    { vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryMib: 81559, uuid: 'GPU-def67890-1234-5678-9abc-def012345678', index: 1 }
  ])
  assert.is(inv.gpuDriver, '550.54.15')
  assert.equal(inv.warnings, [])
  assert.match(inv.os, /^Test Linux 1 \(fake\), Linux /)
})

test('nvidia: a real H100 80GB HBM3 (nvidia-smi 580.159.04, captured) is dstack\'s H100 with 80 GB', async () => {
  const h = host(['/dev/nvidiactl'], { 'nvidia-smi': H100_SXM.query })
  const inv = await getInventory(h)
  assert.equal(h.calls, [['nvidia-smi', NVIDIA_SMI_ARGS]])
  assert.equal(inv.gpus, [{ vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryMib: 81559, uuid: 'GPU-1d2d0a8b-13e5-74a9-9a1c-cdc042a9e1fb', index: 0 }])
  assert.is(inv.gpuDriver, '580.159.04')
  assert.equal(inv.warnings, [])
  // What the daemon makes of it for the offer (daemon/node.ts offerOf).
  const g = inv.gpus[0]!
  const name = normalizeGpuName(g.vendor, g.name)
  assert.is(name, 'H100')
  assert.is(snapGpuMemoryGib(name, g.memoryMib), 80)
  // The same GPU as `nvidia-smi -L` lists it.
  assert.is(H100_SXM.list, `GPU ${g.index}: ${g.name} (UUID: ${g.uuid})\n`)
  assert.is(inv.gpuDriver, H100_SXM.moduleVersion.trim())
})

test('nvidia-smi: names trimmed, not normalized; placeholders and bad lines', () => {
  const r = parseNvidiaSmi('  NVIDIA GeForce RTX 4090  ,  24564 , GPU-1 , [N/A]\r\nTesla V100-SXM2-16GB, [N/A], [N/A], 535.1\ngarbage line\n\n')
  assert.equal(r.gpus, [
    { vendor: 'nvidia', name: 'NVIDIA GeForce RTX 4090', memoryMib: 24564, uuid: 'GPU-1', index: 0 },
    { vendor: 'nvidia', name: 'Tesla V100-SXM2-16GB', memoryMib: 0, index: 1 }
  ])
  assert.is(r.driver, '535.1')
  assert.is(r.warnings.length, 2)
  assert.match(r.warnings[0]!, /memory "\[N\/A\]" is not a number/)
  assert.match(r.warnings[1]!, /expected 4 fields, got 1/)
  // A quoted name with a comma stays one field.
  assert.is(parseNvidiaSmi('"NVIDIA A, B", 100, GPU-x, 1.0').gpus[0]!.name, 'NVIDIA A, B')
})

test('amd: amd-smi flat array (ROCm 6)', async () => {
  const h = host(['/dev/kfd'], { 'amd-smi': AMD_ROCM6 })
  const inv = await getInventory(h)
  assert.equal(h.calls, [['amd-smi', AMD_SMI_ARGS]])
  assert.equal(AMD_SMI_ARGS, ['static', '--json', '--asic', '--vram', '--bus'])
  assert.equal(inv.gpus, [
    { vendor: 'amd', name: 'AMD Instinct MI300X', memoryMib: 196592, index: 0 },
    { vendor: 'amd', name: 'AMD Instinct MI300X', memoryMib: 196592, index: 1 }
  ])
  assert.is(inv.gpuDriver, '6.10.5', 'from /sys/module/amdgpu/version')
  assert.equal(inv.warnings, [])
})

test('amd: amd-smi {gpu_data: [...]} (ROCm 7); market_name is kept as-is, untrimmed', async () => {
  const inv = await getInventory(host(['/dev/kfd'], { 'amd-smi': AMD_ROCM7 }))
  assert.equal(inv.gpus, [{ vendor: 'amd', name: 'AMD Instinct MI325X VF ', memoryMib: 262128, index: 0 }])
  assert.is(inv.gpuDriver, '6.12.12')
})

test('amd-smi: output that is not JSON, or of another shape, is a warning', () => {
  assert.match(parseAmdSmi('Traceback (most recent call last):').warnings[0]!, /not JSON/)
  assert.match(parseAmdSmi('{"gpus": []}').warnings[0]!, /neither a list/)
  const r = parseAmdSmi('[{"gpu": 0, "asic": {}, "vram": {"size": {"value": "N/A"}}}]')
  assert.equal(r.gpus, [{ vendor: 'amd', name: '', memoryMib: 0, index: 0 }])
  assert.is(r.warnings.length, 2)
})

test('intel: Gaudi2 from captured hl-smi CSV', async () => {
  const h = host(['/dev/accel'], { 'hl-smi': HL_SMI_GAUDI2 })
  const inv = await getInventory(h)
  assert.equal(h.calls, [['hl-smi', HL_SMI_ARGS]])
  assert.equal(HL_SMI_ARGS, ['--query-aip=name,memory.total,index', '--format=csv,noheader,nounits'])
  assert.equal(inv.gpus, [
    { vendor: 'intel', name: 'HL-225', memoryMib: 98304, index: 0 },
    { vendor: 'intel', name: 'HL-225', memoryMib: 98304, index: 1 }
  ])
  assert.equal(parseHlSmi(' HL-325L , 131072 , 3 ').gpus, [{ vendor: 'intel', name: 'HL-325L', memoryMib: 131072, index: 3 }])
})

test('vendor by device file, in dstack order: nvidia before amd before intel', async () => {
  const all = { 'nvidia-smi': NVIDIA_TWO_H100, 'amd-smi': AMD_ROCM6, 'hl-smi': HL_SMI_GAUDI2 }
  // An AMD iGPU (/dev/kfd) beside an NVIDIA card: NVIDIA.
  let h = host(['/dev/kfd', '/dev/nvidiactl', '/dev/accel'], all)
  assert.is((await getInventory(h)).gpus[0]!.vendor, 'nvidia')
  assert.is(h.calls.length, 1)
  // An AMD GPU beside an NPU on /dev/accel: AMD.
  h = host(['/dev/kfd', '/dev/accel'], all)
  assert.is((await getInventory(h)).gpus[0]!.vendor, 'amd')
  // No device file: no tool is run at all.
  h = host([], all)
  assert.equal((await getInventory(h)).gpus, [])
  assert.equal(h.calls, [])
})

test('WSL: /dev/dxg with the WSL nvidia-smi runs that nvidia-smi', async () => {
  const h = host(['/dev/dxg', '/usr/lib/wsl/lib/nvidia-smi'], { '/usr/lib/wsl/lib/nvidia-smi': NVIDIA_TWO_H100 })
  const inv = await getInventory(h)
  assert.is(inv.gpus.length, 2)
  assert.is(h.calls[0]![0], '/usr/lib/wsl/lib/nvidia-smi')
  // /dev/dxg alone (no NVIDIA driver in WSL) is no GPU.
  assert.equal((await getInventory(host(['/dev/dxg'], {}))).gpus, [])
})

test('Tenstorrent devices are not reported yet, with a warning', async () => {
  const inv = await getInventory(host(['/dev/tenstorrent'], {}))
  assert.equal(inv.gpus, [])
  assert.match(inv.warnings.join('\n'), /Tenstorrent/)
})

test('a missing, failing or hanging tool: no GPUs, a warning, never a throw', async () => {
  let inv = await getInventory(host(['/dev/nvidiactl'], {}))
  assert.equal(inv.gpus, [])
  assert.is(inv.warnings.length, 1)
  assert.match(inv.warnings[0]!, /\/dev\/nvidiactl is present but nvidia-smi is not installed/)

  const failed = Object.assign(new Error('Command failed: nvidia-smi'), { code: 9, stderr: 'NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.\n' })
  inv = await getInventory(host(['/dev/nvidiactl'], {}, { 'nvidia-smi': failed }))
  assert.equal(inv.gpus, [])
  assert.match(inv.warnings[0]!, /nvidia-smi failed \(exit code 9\): NVIDIA-SMI has failed because it couldn't communicate/)

  const hung = Object.assign(new Error('Command failed'), { killed: true, signal: 'SIGKILL' })
  inv = await getInventory(host(['/dev/kfd'], {}, { 'amd-smi': hung }))
  assert.equal(inv.gpus, [])
  assert.match(inv.warnings[0]!, /amd-smi did not answer within 5 s/)

  inv = await getInventory(host(['/dev/accel'], { 'hl-smi': '' }))
  assert.equal(inv.gpus, [])
  assert.match(inv.warnings[0]!, /hl-smi reported no devices/)

  inv = await getInventory(host(['/dev/kfd'], { 'amd-smi': 'not json' }))
  assert.equal(inv.gpus, [])
  assert.match(inv.warnings[0]!, /amd-smi: output is not JSON/)
})

test('execTool: runs asynchronously; a missing program rejects with ENOENT', async () => {
  assert.equal(await execTool(process.execPath, ['-e', 'process.stdout.write("hi")']), { stdout: 'hi' })
  try {
    await execTool('dstack-no-such-tool-here', [])
    assert.unreachable('ran')
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'ENOENT')
  }
  try {
    await execTool(process.execPath, ['-e', 'process.stderr.write("bad"); process.exit(3)'])
    assert.unreachable('ran')
  } catch (err) {
    assert.is((err as { code?: number }).code, 3)
    assert.is((err as { stderr?: string }).stderr, 'bad')
  }
})

test.run()
