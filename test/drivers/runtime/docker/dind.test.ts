// `docker: true` through the docker runtime on this engine (which refuses --privileged): the job
// runs in local/dind with start-dockerd in front of its command, imports a tiny image from a
// tarball mounted into it and runs a container of it; the inner engine's volume goes with the job.
import * as assert from 'uvu/assert'
import { execFileSync, execSync } from 'node:child_process'
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { dockerRuntime } from '../../../../drivers/runtime/docker/index.ts'
import { isJobExit, type JobSpec } from '../../../../drivers/runtime/types.ts'
import { waitFor } from '../../../poll.ts'
import { suiteNeeding } from '../../../skip.ts'
import { BUSYBOX, begin, cleanup, docker, engineMissing, finished, jobRoot, output, outputUntil } from './engine.ts'

const DIND = 'local/dind:latest'
const missing = await engineMissing() ?? await docker.getImage(DIND).inspect().then(() => null, () => `the local image ${DIND} is missing; scripts/ci/docker.sh builds it`)
const test = suiteNeeding(import.meta.url, `root and a Docker engine with ${DIND}`, missing)

const { root, spec: baseSpec } = jobRoot()
const images = join(root, 'images')
const rt = dockerRuntime({ rootDir: root })

test.before(() => {
  // The inner image: busybox, as a root filesystem tarball.
  const fs = join(root, 'rootfs')
  mkdirSync(join(fs, 'bin'), { recursive: true })
  copyFileSync('/bin/busybox', join(fs, 'bin', 'busybox'))
  for (const a of ['sh', 'echo', 'sleep']) symlinkSync('busybox', join(fs, 'bin', a))
  mkdirSync(images)
  execFileSync('tar', ['-C', fs, '-cf', join(images, 'tiny.tar'), '.'])
})

test.after(async () => { await cleanup(root) })

function spec (script: string, image = DIND): JobSpec {
  const s = baseSpec(['/bin/sh', '-c', script], {}, image)
  return { ...s, container: { image, docker: true, volumes: [{ hostPath: images, path: '/images' }] } }
}

test('docker: true runs an inner container, and the inner engine\'s volume is removed with the job', async () => {
  const j = spec('docker import /images/tiny.tar tiny >/dev/null && docker run --rm tiny /bin/echo inner container ran && docker info --format "driver={{.Driver}}"')
  await begin(rt, j)
  const [c] = await docker.listContainers({ all: true, filters: { label: [`dstackd.job=${j.id}`] } })
  const volume = c?.Mounts.find(m => m.Destination === '/var/lib/docker')?.Name
  assert.ok(volume, 'a volume holds /var/lib/docker')
  const exit = await finished(rt, j.id)
  const out = await output(rt, j.id)
  assert.is(exit.exitCode, 0, out)
  assert.match(out, 'inner container ran')
  assert.match(out, /driver=(overlay2|vfs)/)
  await rt.remove!(j.id)
  assert.is(await docker.getVolume(volume!).inspect().then(() => 'still there', () => 'gone'), 'gone')
})

test('killing a docker: true job ends its inner containers too', async () => {
  const marker = `sleep ${40000 + process.pid % 10000}`
  const inner = () => execSync('ps -eo args').toString().split('\n').filter(l => l.trim() === marker)
  const j = spec(`docker import /images/tiny.tar tiny >/dev/null && docker run -d tiny ${marker} >/dev/null && echo inner started && sleep 600`)
  await begin(rt, j)
  await outputUntil(rt, j.id, 'inner started')
  assert.is(inner().length, 1, 'the inner container runs on this host')
  await rt.kill(j.id)
  assert.is((await finished(rt, j.id)).reason, 'killed')
  await waitFor(() => inner().length === 0, { what: 'the inner container\'s process to be gone', timeout: 10_000 })
  await rt.remove!(j.id)
})

test('docker: true in an image without dockerd: the job fails saying so', async () => {
  const j = spec('echo never', BUSYBOX)
  const got = await rt.start(j)
  const exit = isJobExit(got) ? got : await finished(rt, j.id)
  assert.is.not(exit.exitCode, 0)
  assert.match(await output(rt, j.id), 'this image has no dockerd')
  await rt.remove!(j.id)
})

test.run()
