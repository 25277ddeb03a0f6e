// Pulling images through the real engine. No registry can be reached from these machines, so
// a pull that must reach one is tested where it fails: a registry on a closed loopback port
// gives the engine's own error. What the engine says for a missing image or refused
// credentials is judged from its messages as it words them.
import * as assert from 'uvu/assert'
import Docker from 'dockerode'
import { pullFailure, pullImage, registryOf, scrub, withTag, PullError } from '../../../../drivers/runtime/docker/pull.ts'
import { suiteNeeding } from '../../../skip.ts'

const docker = new Docker()
const engine = await docker.ping().then(() => null, (err: Error) => `no container engine answers on /var/run/docker.sock (${err.message}); scripts/ci/docker.sh starts one`)
const busybox = engine === null ? await docker.getImage('local/busybox:latest').inspect().then(() => null, () => 'the image local/busybox:latest is missing: scripts/ci/docker.sh builds it') : null
const test = suiteNeeding(import.meta.url, 'a container engine with local/busybox', engine ?? busybox)

const PASSWORD = 's3cr3t-pa55word' // lower case: it is also put in the image name, which the engine then echoes
const AUTH = { username: 'alice', password: PASSWORD }

async function failure (p: Promise<unknown>): Promise<PullError> {
  try { await p } catch (err) { return err as PullError }
  throw new Error('the pull succeeded')
}

test('an image already on the engine is used as it is: no pull, no progress', async () => {
  const texts: string[] = []
  await pullImage(docker, 'local/busybox:latest', null, t => texts.push(t))
  await pullImage(docker, 'local/busybox', AUTH, t => texts.push(t))
  assert.equal(texts, [])
})

test('a registry that cannot be reached: registry_unreachable, naming the image and the registry', async () => {
  const err = await failure(pullImage(docker, '127.0.0.1:1/dstackd-test/none:1', null))
  assert.instance(err, PullError)
  assert.is(err.code, 'registry_unreachable')
  assert.match(err.message, /^could not pull image 127\.0\.0\.1:1\/dstackd-test\/none:1: registry 127\.0\.0\.1:1 unreachable from this host \(.*connection refused.*\)$/)
})

test('with registry_auth the password appears nowhere in the error', async () => {
  const err = await failure(pullImage(docker, `127.0.0.1:1/${PASSWORD}/x:y`, AUTH, () => {}))
  assert.is(err.code, 'registry_unreachable')
  assert.not.ok(err.message.includes(PASSWORD), err.message)
  assert.not.ok(JSON.stringify(err).includes(PASSWORD))
  assert.not.ok(String(err.stack).includes(PASSWORD))
  assert.ok(err.message.includes('***'), err.message)
})

test('the engine\'s words, judged (moby 20.10 messages)', () => {
  const cases: Array<[string, number | undefined, typeof AUTH | null, string, RegExp]> = [
    ['(HTTP code 404) unexpected - pull access denied for nosuch/image, repository does not exist or may require \'docker login\': denied: requested access to the resource is denied ', 404, null, 'image_not_found', /no such image in registry docker\.io \(a private one needs registry_auth\)/],
    ['manifest for ghcr.io/org/app:v9 not found: manifest unknown: manifest unknown', 404, AUTH, 'image_not_found', /no such image in registry ghcr\.io, or user "alice" may not read it/],
    ['Head "https://ghcr.io/v2/org/app/manifests/v1": unauthorized', 500, null, 'registry_auth_refused', /registry ghcr\.io asks for credentials: set registry_auth/],
    [`Get "https://reg.example.com/v2/": unauthorized: incorrect username or password (${PASSWORD})`, 500, AUTH, 'registry_auth_refused', /registry reg\.example\.com refused the registry_auth credentials of user "alice"/],
    ['Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host', 500, null, 'registry_unreachable', /registry docker\.io unreachable/],
    ['failed to register layer: no space left on device', 500, null, 'pull_failed', /the engine could not pull it \(failed to register layer: no space left on device\)/]
  ]
  for (const [message, status, auth, code, words] of cases) {
    const image = /ghcr\.io/.test(message) ? 'ghcr.io/org/app:v1' : /reg\.example/.test(message) ? 'reg.example.com/app:1' : 'nosuch/image:1'
    const err = pullFailure(image, message, auth, status)
    assert.is(err.code, code, message)
    assert.match(err.message, words)
    assert.not.ok(err.message.includes(PASSWORD))
    assert.not.ok(err.message.includes('HTTP code'), 'dockerode\'s prefix is dropped')
  }
})

test('scrub: the password in clear, in base64 (alone and as user:password), URL-encoded and JSON-escaped', () => {
  const auth = { username: 'bob', password: 'p@ss"word/1' }
  const forms = [auth.password, Buffer.from(auth.password).toString('base64'), Buffer.from('bob:p@ss"word/1').toString('base64'), encodeURIComponent(auth.password), 'p@ss\\"word/1']
  for (const f of forms) assert.is(scrub(`before ${f} after`, auth), 'before *** after', f)
  assert.is(scrub('nothing to hide', null), 'nothing to hide')
})

test('image references: tag added when missing, registry host told apart from a Docker Hub namespace', () => {
  assert.is(withTag('busybox'), 'busybox:latest')
  assert.is(withTag('localhost:5000/app'), 'localhost:5000/app:latest')
  assert.is(withTag('localhost:5000/app:v1'), 'localhost:5000/app:v1')
  assert.is(withTag('app@sha256:abc'), 'app@sha256:abc')
  assert.is(registryOf('busybox'), 'docker.io')
  assert.is(registryOf('dstackai/base:0.14-base-ubuntu24.04'), 'docker.io')
  assert.is(registryOf('ghcr.io/org/app:v1'), 'ghcr.io')
  assert.is(registryOf('localhost/app'), 'localhost')
  assert.is(registryOf('127.0.0.1:1/x:y'), '127.0.0.1:1')
})

test.run()
