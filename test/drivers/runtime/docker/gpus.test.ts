// Two container jobs on one host, each given one GPU, see only their own: the GPUs are
// stand-in device nodes (mknod, in a temp dir standing in for /dev) on a host without the
// NVIDIA toolkit, so each container gets its GPU's node; a job given none sees none.
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { dockerRuntime } from '../../../../drivers/runtime/docker/index.ts'
import { isJobExit, type JobDevice, type JobSpec } from '../../../../drivers/runtime/types.ts'
import { suiteNeeding } from '../../../skip.ts'
import { BUSYBOX, begin, cleanup, engineMissing, finished, jobRoot, output } from './engine.ts'

const test = suiteNeeding(import.meta.url, 'root and a Docker engine with the local images', await engineMissing())

const { root, spec: baseSpec } = jobRoot()
const dev = join(root, 'dev')
const rt = dockerRuntime({ rootDir: root, devices: { root: dev, path: '' } })

test.before(() => {
  mkdirSync(dev, { recursive: true }) // the job root itself is made at the first job (engine.ts)
  // nvidia0 is /dev/null's device, nvidia1 /dev/zero's: which one a job got shows in its numbers.
  for (const [name, minor] of [['nvidia0', 3], ['nvidia1', 5], ['nvidiactl', 7], ['nvidia-uvm', 8]] as const) execFileSync('mknod', [join(dev, name), 'c', '1', String(minor)])
})

test.after(async () => { await cleanup(root) })

const SCRIPT = 'for n in /dev/nvidia*; do [ -e "$n" ] && echo "node $n $(stat -c %t:%T $n)"; done; echo "cuda=$CUDA_VISIBLE_DEVICES"; head -c 2 /dev/nvidia1 2>/dev/null | od -An -tx1 | sed "s/^/read /"'

function spec (devices: JobDevice[]): JobSpec {
  const s = baseSpec(['sh', '-c', SCRIPT], {}, BUSYBOX)
  // The agent's variables name the host's indices; the container's own must win.
  return { ...s, env: { ...s.env, CUDA_VISIBLE_DEVICES: '0,1' }, container: { ...s.container!, devices } }
}

const nodes = (out: string) => out.replace(/\r/g, '').split('\n').filter(l => l.startsWith('node'))

test('two jobs on one host, one GPU each: each sees only its own GPU\'s node, and can use it; a job without GPUs sees none', async () => {
  const jobs = [
    spec([{ vendor: 'nvidia', index: 0, uuid: 'GPU-aaaaaaaa-0000-0000-0000-000000000000' }]),
    spec([{ vendor: 'nvidia', index: 1, uuid: 'GPU-bbbbbbbb-0000-0000-0000-000000000000' }]),
    spec([])
  ]
  await Promise.all(jobs.map(j => begin(rt, j)))
  for (const j of jobs) assert.is((await finished(rt, j.id)).exitCode, 0)
  const [a, b, none] = await Promise.all(jobs.map(j => output(rt, j.id)))
  assert.equal(nodes(a!), ['node /dev/nvidia-uvm 1:8', 'node /dev/nvidia0 1:3', 'node /dev/nvidiactl 1:7'], a)
  assert.match(a!, 'cuda=GPU-aaaaaaaa-0000-0000-0000-000000000000')
  assert.equal(nodes(b!), ['node /dev/nvidia-uvm 1:8', 'node /dev/nvidia1 1:5', 'node /dev/nvidiactl 1:7'], b)
  assert.match(b!, 'cuda=GPU-bbbbbbbb-0000-0000-0000-000000000000')
  assert.match(b!, 'read  00 00') // its GPU's node opens (the stand-in is /dev/zero)
  assert.equal(nodes(none!), [], none)
  assert.not.match(none!, 'read ')
})

test('a GPU whose device node is missing: the job does not start, and the reason names the node', async () => {
  const got = await rt.start(spec([{ vendor: 'nvidia', index: 5 }]))
  assert.ok(isJobExit(got), 'it did not start')
  assert.match(got.message ?? '', `${join(dev, 'nvidia5')} does not exist on this host`)
})

test.run()
