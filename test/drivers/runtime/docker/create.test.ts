// The parts of the docker runtime that are plain data: a JobSpec's container options, the path
// mapping of the work folder, and the engine's log split back into the job's output.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobSpec } from '../../../../drivers/runtime/index.ts'
import { containerPath, createOptions, privilegedFallback, WORK_MOUNT } from '../../../../drivers/runtime/docker/create.ts'
import { chunksOf, MessageParser } from '../../../../drivers/runtime/docker/engine-log.ts'

const dir = '/data/jobs/j1'
const base: JobSpec = { id: 'j1', dir, command: ['/bin/sh', '-c', 'echo hi'], env: { A: '1' }, workingDir: `${dir}/work`, container: { image: 'img:1' } }

test('the work folder <dir>/work is /workflow; other paths are container paths already', () => {
  assert.is(WORK_MOUNT, '/workflow')
  for (const [host, inside] of [
    [`${dir}/work`, '/workflow'],
    [`${dir}/work/`, '/workflow'],
    [`${dir}/work/a/b`, '/workflow/a/b'],
    [`${dir}/workshop`, `${dir}/workshop`],
    [`${dir}/work/../x`, `${dir}/work/../x`],
    ['/opt/app', '/opt/app']
  ]) assert.is(containerPath(dir, host!), inside, host)
})

test('create options: labels, init, tty, env with TERM, working dir, binds, no entrypoint of the image', () => {
  const o = createOptions(base, dir, { privileged: 'engine', cgroupV1: true, volumes: [{ hostPath: '/mnt/v', path: '/v' }] })
  assert.equal(o.Labels, { 'dstackd.job': 'j1', 'dstackd.dir': dir })
  assert.is(o.HostConfig!.Init, true)
  assert.is(o.Tty, true)
  assert.equal(o.Env, ['A=1', 'TERM=xterm-256color'])
  assert.is(o.WorkingDir, '/workflow')
  assert.equal(o.HostConfig!.Binds, [`${dir}/work:/workflow`, '/mnt/v:/v'])
  assert.equal(o.Entrypoint, base.command)
  assert.equal(o.Cmd, [])
  assert.is(o.User, undefined)
  assert.is(o.HostConfig!.Privileged, undefined)
  assert.is(o.HostConfig!.Memory, undefined)
})

test('create options: entrypoint with the command as its arguments, user, ports on 127.0.0.1, limits, shm', () => {
  const o = createOptions({
    ...base,
    env: { TERM: 'dumb' },
    limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1.5 },
    container: { image: 'img:1', entrypoint: ['/init', '--x'], user: '1000:1000', ports: [{ container: 80, host: 0 }, { container: 8000, host: 18000 }], shmSizeBytes: 1 << 30 }
  }, dir, { privileged: 'engine', cgroupV1: true, volumes: [] })
  assert.equal(o.Entrypoint, ['/init', '--x'])
  assert.equal(o.Cmd, base.command)
  assert.is(o.User, '1000:1000')
  assert.equal(o.Env, ['TERM=dumb'])
  assert.equal(o.ExposedPorts, { '80/tcp': {}, '8000/tcp': {} })
  assert.equal(o.HostConfig!.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }], '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: '18000' }] })
  assert.is(o.HostConfig!.Memory, 512 * 1024 * 1024)
  assert.is(o.HostConfig!.MemorySwap, 512 * 1024 * 1024) // no swap past the limit
  assert.is(o.HostConfig!.NanoCpus, 1_500_000_000)
  assert.is(o.HostConfig!.ShmSize, 1 << 30)
})

test('privileged: asked of the engine, or the capability set where it refuses', () => {
  const p = { ...base, container: { image: 'img:1', privileged: true } }
  assert.is(createOptions(p, dir, { privileged: 'engine', cgroupV1: true, volumes: [] }).HostConfig!.Privileged, true)
  const fb = createOptions(p, dir, { privileged: 'capabilities', cgroupV1: true, volumes: [] }).HostConfig!
  assert.is(fb.Privileged, undefined)
  assert.equal(fb.CapAdd, ['ALL'])
  assert.equal(fb.CapDrop, ['SYS_RESOURCE'])
  assert.is((fb as { CgroupnsMode?: string }).CgroupnsMode, 'host')
  assert.is((privilegedFallback(false) as { CgroupnsMode?: string }).CgroupnsMode, undefined)
})

const ts = (ms: number) => new Date(ms).toISOString().replace('Z', '123456Z')

test('engine log: lines, 16 KiB pieces of a long line and a last line without newline come back byte for byte', () => {
  const long = 'x'.repeat(40000)
  const pieces = [long.slice(0, 16384), long.slice(16384, 32768), long.slice(32768) + '\r\n']
  const messages = ['a\r\n', 'b\r\n', ...pieces, 'tail without newline']
  const t0 = Date.UTC(2026, 0, 1)
  const raw = Buffer.from(messages.map((m, i) => `${ts(t0 + i)} ${m}`).join(''))
  const want = messages.join('')
  // Fed whole, and fed in awkward pieces (a header split in two, one byte at a time).
  for (const step of [raw.length, 7, 1]) {
    const p = new MessageParser()
    const got = []
    for (let i = 0; i < raw.length; i += step) got.push(...p.push(raw.subarray(i, i + step)))
    got.push(...p.end())
    assert.is(Buffer.concat(got.map(m => m.data)).toString(), want, `step ${step}`)
    assert.equal(got.map(m => m.at), messages.map((_, i) => t0 + i), `step ${step}`)
  }
})

test('engine log: a message the engine re-encoded to another length joins the one before', () => {
  const p = new MessageParser()
  const weird = 'y'.repeat(16384 + 10) // longer than a piece: not a boundary after 16 KiB
  const t = Date.UTC(2026, 0, 1)
  const got = [...p.push(Buffer.from(`${ts(t)} ${weird}${ts(t + 5)} next\n`)), ...p.end()]
  assert.is(Buffer.concat(got.map(m => m.data)).toString(), weird + 'next\n')
  assert.is(got[got.length - 1]!.at, t + 5)
})

test('chunks: offsets run on, messages of one millisecond merge', () => {
  const c = chunksOf([{ at: 1, data: Buffer.from('ab') }, { at: 1, data: Buffer.from('c') }, { at: 2, data: Buffer.from('de') }], 10)
  assert.equal(c.map(x => [x.at, x.offset, x.data.toString()]), [[1, 10, 'abc'], [2, 13, 'de']])
})

test.run()
