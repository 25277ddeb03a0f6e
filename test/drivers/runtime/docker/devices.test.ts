// deviceOptions as a table over hosts with and without the NVIDIA toolkit, and AMD hosts;
// probeDeviceHost over stand-in device nodes (mknod, as root) and a stand-in KFD topology.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOptions } from '../../../../drivers/runtime/docker/create.ts'
import { deviceOptions, probeDeviceHost, type DeviceHost } from '../../../../drivers/runtime/docker/devices.ts'
import { START_DOCKERD } from '../../../../drivers/runtime/docker/dind.ts'
import type { JobDevice } from '../../../../drivers/runtime/types.ts'
import { suiteNeeding } from '../../../skip.ts'

const U0 = 'GPU-00000000-1111-2222-3333-444444444444'
const U1 = 'GPU-11111111-1111-2222-3333-444444444444'
const gpu0: JobDevice = { vendor: 'nvidia', index: 0, uuid: U0 }
const gpu1: JobDevice = { vendor: 'nvidia', index: 1, uuid: U1 }

function host (over: Partial<DeviceHost> & { names?: string[] } = {}): DeviceHost {
  const nodes = new Map((over.names ?? ['nvidia0', 'nvidia1', 'nvidiactl', 'nvidia-uvm']).map(n => [n, { gid: 0 }] as const))
  return { root: '/dev', nvidiaToolkit: false, nodes, amdRenderNodes: new Map(), ...over }
}
const run = (devices: JobDevice[] | undefined, h: DeviceHost) => deviceOptions({ image: 'x', ...(devices ? { devices } : {}) }, h)
const node = (n: string) => ({ PathOnHost: `/dev/${n}`, PathInContainer: `/dev/${n}`, CgroupPermissions: 'rwm' })

test('nvidia with the toolkit: one device request naming the job\'s GPUs by UUID, nothing else', () => {
  const o = run([gpu1], host({ nvidiaToolkit: true }))
  assert.equal(o.hostConfig, { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: [U1], Capabilities: [['gpu']] }] })
  assert.equal(o.env, { CUDA_VISIBLE_DEVICES: U1, NVIDIA_VISIBLE_DEVICES: U1 })
  assert.equal(o.notes, [])
})

test('nvidia with the toolkit: a GPU without a UUID is requested by its index', () => {
  const o = run([{ vendor: 'nvidia', index: 1 }, gpu0], host({ nvidiaToolkit: true }))
  assert.equal(o.hostConfig.DeviceRequests?.[0]?.DeviceIDs, ['1', U0])
  assert.is(o.env.CUDA_VISIBLE_DEVICES, `1,${U0}`)
})

test('nvidia without the toolkit: the GPU\'s own node and the control nodes present, noted', () => {
  const o = run([gpu1], host())
  assert.equal(o.hostConfig, { Devices: [node('nvidia1'), node('nvidiactl'), node('nvidia-uvm')] })
  assert.equal(o.env, { CUDA_VISIBLE_DEVICES: U1, NVIDIA_VISIBLE_DEVICES: U1 })
  assert.match(o.notes.join(), 'no NVIDIA Container Toolkit')
  assert.match(o.notes.join(), '/dev/nvidia1')
})

test('nvidia without the toolkit: a GPU whose node is missing is an error naming it', () => {
  assert.throws(() => run([{ vendor: 'nvidia', index: 7, uuid: U0 }], host()), (e: Error) => e.message === `devices: nvidia GPU 7 (${U0}): /dev/nvidia7 does not exist on this host`)
})

test('no devices: no requests, no nodes; on a toolkit host NVIDIA_VISIBLE_DEVICES=void', () => {
  assert.equal(run(undefined, host()), { hostConfig: {}, env: {}, notes: [] })
  assert.equal(run([], host({ nvidiaToolkit: true })), { hostConfig: {}, env: { NVIDIA_VISIBLE_DEVICES: 'void' }, notes: [] })
})

test('amd: /dev/kfd and the job\'s render nodes, renumbered from 0 inside', () => {
  const h = host({ names: ['kfd', 'dri/renderD128', 'dri/renderD129', 'dri/renderD130'], amdRenderNodes: new Map([[0, 'dri/renderD128'], [1, 'dri/renderD129'], [2, 'dri/renderD130']]) })
  const o = run([{ vendor: 'amd', index: 2 }, { vendor: 'amd', index: 0 }], h)
  assert.equal(o.hostConfig, { Devices: [node('kfd'), node('dri/renderD130'), node('dri/renderD128')] })
  assert.equal(o.env, { ROCR_VISIBLE_DEVICES: '0,1', HIP_VISIBLE_DEVICES: '0,1' })
  assert.throws(() => run([{ vendor: 'amd', index: 5 }], h), /amd GPU 5: no render node under \/dev\/dri belongs to it/)
  assert.throws(() => run([{ vendor: 'amd', index: 0 }], host({ amdRenderNodes: new Map([[0, 'dri/renderD128']]) })), /\/dev\/kfd does not exist/)
})

test('the device nodes\' groups are added, root\'s is not', () => {
  const h = host({ names: [], nodes: new Map([['kfd', { gid: 44 }], ['dri/renderD128', { gid: 105 }], ['dri/renderD129', { gid: 105 }]]), amdRenderNodes: new Map([[0, 'dri/renderD128'], [1, 'dri/renderD129']]) })
  assert.equal(run([{ vendor: 'amd', index: 0 }, { vendor: 'amd', index: 1 }], h).hostConfig.GroupAdd, ['44', '105'])
  assert.is(run([gpu0], host()).hostConfig.GroupAdd, undefined)
})

test('a vendor containers cannot be given yet is an error, not a job without its device', () => {
  assert.throws(() => run([{ vendor: 'intel', index: 0 }], host()), /devices: intel GPU 0: intel accelerators are not supported in containers yet/)
})

test('probe: the NVIDIA toolkit is there when the engine has an nvidia runtime or its hook is on PATH', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dstackd-devices-'))
  try {
    assert.is((await probeDeviceHost({ root: dir, sysRoot: dir, path: dir })).nvidiaToolkit, false)
    assert.is((await probeDeviceHost({ root: dir, sysRoot: dir, path: dir, engineRuntimes: ['runc', 'nvidia'] })).nvidiaToolkit, true)
    writeFileSync(join(dir, 'nvidia-container-runtime-hook'), '#!/bin/sh\n')
    chmodSync(join(dir, 'nvidia-container-runtime-hook'), 0o755)
    assert.is((await probeDeviceHost({ root: dir, sysRoot: dir, path: `/nonexistent:${dir}` })).nvidiaToolkit, true)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('probe: AMD device indices follow the KFD topology\'s GPU nodes, CPU nodes skipped', async () => {
  const sys = mkdtempSync(join(tmpdir(), 'dstackd-sys-'))
  try {
    const topo = join(sys, 'class/kfd/kfd/topology/nodes')
    const props = { 0: 'cpu_cores_count 16\nsimd_count 0\ndrm_render_minor 0\n', 1: 'simd_count 304\ndrm_render_minor 129\n', 2: 'simd_count 304\ndrm_render_minor 128\n' }
    for (const [n, text] of Object.entries(props)) { mkdirSync(join(topo, n), { recursive: true }); writeFileSync(join(topo, n, 'properties'), text) }
    const h = await probeDeviceHost({ root: join(sys, 'no-dev'), sysRoot: sys, path: '' })
    assert.equal([...h.amdRenderNodes], [[0, 'dri/renderD129'], [1, 'dri/renderD128']])
  } finally {
    rmSync(sys, { recursive: true, force: true })
  }
})

test('createOptions: the devices\' variables win over the job\'s host indices; the devices\' notes come back', () => {
  const dir = '/jobs/j1'
  const o = createOptions({ id: 'j1', dir, command: ['true'], env: { CUDA_VISIBLE_DEVICES: '1', A: 'b' }, workingDir: `${dir}/work`, container: { image: 'x', devices: [gpu1] } },
    dir, { privileged: 'engine', cgroupV1: true, volumes: [], devices: host() })
  assert.ok(o.Env!.includes(`CUDA_VISIBLE_DEVICES=${U1}`) && o.Env!.includes('A=b') && !o.Env!.includes('CUDA_VISIBLE_DEVICES=1'), o.Env!.join(' '))
  assert.equal(o.HostConfig!.Devices!.map((d: { PathInContainer: string }) => d.PathInContainer), ['/dev/nvidia1', '/dev/nvidiactl', '/dev/nvidia-uvm'])
  assert.match(o.notes.join(), 'no NVIDIA Container Toolkit')
  assert.throws(() => createOptions({ id: 'j1', dir, command: ['true'], env: {}, workingDir: `${dir}/work`, container: { image: 'x', devices: [gpu1] } }, dir, { privileged: 'engine', cgroupV1: true, volumes: [] }), /nvidia1 does not exist/)
})

test('createOptions: docker: true is privileged, start-dockerd goes first, the engine gets a volume and (cgroup v1) the host\'s cgroup namespace', () => {
  const dir = '/jobs/j2'
  const spec = { id: 'j2', dir, command: ['/bin/sh', '-i', '-c', 'docker ps'], env: {}, workingDir: `${dir}/work`, container: { image: 'local/dind', docker: true } }
  const o = createOptions(spec, dir, { privileged: 'engine', cgroupV1: true, volumes: [] })
  assert.equal(o.Entrypoint, [START_DOCKERD, '/bin/sh', '-i', '-c', 'docker ps'])
  assert.ok(o.HostConfig!.Binds!.includes(`${dir}/start-dockerd:${START_DOCKERD}:ro`), o.HostConfig!.Binds!.join(' '))
  assert.equal(o.HostConfig!.Mounts, [{ Type: 'volume', Source: '', Target: '/var/lib/docker' }])
  assert.is(o.HostConfig!.Privileged, true)
  assert.is((o.HostConfig as { CgroupnsMode?: string }).CgroupnsMode, 'host')
  const fallback = createOptions({ ...spec, container: { ...spec.container, entrypoint: ['/init'] } }, dir, { privileged: 'capabilities', cgroupV1: false, volumes: [] })
  assert.equal([fallback.Entrypoint, fallback.Cmd], [[START_DOCKERD, '/init'], spec.command])
  assert.equal(fallback.HostConfig!.CapAdd, ['ALL'])
  assert.is((fallback.HostConfig as { CgroupnsMode?: string }).CgroupnsMode, undefined)
})

const rootTest = suiteNeeding(import.meta.url, 'root (mknod)', process.getuid?.() === 0 ? null : 'not root: cannot make stand-in device nodes')

rootTest('probe: finds the character devices under root (nvidiaN, control nodes, kfd, render nodes), not plain files', async () => {
  const dev = mkdtempSync(join(tmpdir(), 'dstackd-dev-'))
  try {
    mkdirSync(join(dev, 'dri'))
    for (const [n, minor] of [['nvidia0', 3], ['nvidia1', 5], ['nvidiactl', 7], ['kfd', 8], ['dri/renderD128', 9]] as const) execFileSync('mknod', [join(dev, n), 'c', '1', String(minor)])
    execFileSync('chgrp', ['44', join(dev, 'kfd')])
    writeFileSync(join(dev, 'nvidia2'), '') // not a device
    const h = await probeDeviceHost({ root: dev, sysRoot: dev, path: '' })
    assert.equal([...h.nodes.keys()].sort(), ['dri/renderD128', 'kfd', 'nvidia0', 'nvidia1', 'nvidiactl'])
    assert.equal(h.nodes.get('kfd'), { gid: 44 })
    assert.equal([...h.amdRenderNodes], [[0, 'dri/renderD128']])
    assert.equal(run([gpu1], h).hostConfig.Devices, [{ PathOnHost: join(dev, 'nvidia1'), PathInContainer: '/dev/nvidia1', CgroupPermissions: 'rwm' }, { PathOnHost: join(dev, 'nvidiactl'), PathInContainer: '/dev/nvidiactl', CgroupPermissions: 'rwm' }])
  } finally {
    rmSync(dev, { recursive: true, force: true })
  }
})

test.run()
