// An image that must be pulled, through the docker runtime and the real engine. No registry can
// be reached here, so only a pull that fails can be run end to end: the start reports the
// engine's reason and nothing the job leaves holds the registry password. (Progress on a pull
// that works is tested from recorded engine streams: pull-progress.test.ts.)
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import { join } from 'node:path'
import { dockerRuntime, isJobExit, type JobExit } from '../../../../drivers/runtime/index.ts'
import { suiteNeeding } from '../../../skip.ts'
import { cleanup, engineMissing, jobRoot, SOCKET } from './engine.ts'

const test = suiteNeeding(import.meta.url, 'root and a Docker engine', await engineMissing())
const { root, spec } = jobRoot()
const rt = dockerRuntime({ rootDir: root, socketPath: SOCKET })
test.after(async () => { await cleanup(root) })

const PASSWORD = 'pull-e2e-s3cret-9f2'

function filesUnder (dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)])
}

test('an image on an unreachable registry: the start fails saying so, with no password anywhere', async () => {
  const s = spec(['/bin/sh', '-c', 'true'], {}, '127.0.0.1:1/dstackd-test/none:1')
  s.container!.registryAuth = { username: 'alice', password: PASSWORD }
  const progress: string[] = []
  const started = await rt.start(s, { progress: t => progress.push(t) })
  assert.ok(isJobExit(started), 'the start reports an exit')
  assert.match((started as JobExit).message ?? '', /^could not pull image 127\.0\.0\.1:1\/dstackd-test\/none:1: registry 127\.0\.0\.1:1 unreachable from this host \(.*connection refused\)/)
  assert.not.ok(JSON.stringify(started).includes(PASSWORD))
  assert.equal(progress, [], 'no layer was ever heard of')
  for (const file of filesUnder(s.dir)) assert.not.ok(fs.readFileSync(file).includes(PASSWORD), file)
})

test('an image already on the engine is not pulled: no progress, the job runs', async () => {
  const s = spec(['/bin/sh', '-c', 'exit 0'])
  const progress: string[] = []
  const started = await rt.start(s, { progress: t => progress.push(t) })
  assert.not.ok(isJobExit(started), JSON.stringify(started))
  assert.is((await rt.wait(s.id)).exitCode, 0)
  assert.equal(progress, [])
})

test.run()
