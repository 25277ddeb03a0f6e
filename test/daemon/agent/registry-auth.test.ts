// registry_auth from the client to the pull: resolved from the run's env, kept redacted in the
// configuration, sealed in the job spec with a key from the swarm key (SPEC §1.2, §1.7).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { parseConfiguration, type RunConfiguration } from '../../../daemon/config/index.ts'
import { redactRegistryAuth, registryAuthFor, resolveRegistryAuth, sealerOf } from '../../../daemon/agent/registry-auth.ts'

const PASSWORD = 'Pa55-w0rd$ecret'
const config = (auth: string) => parseConfiguration(`type: task\ncommands: ["true"]\nregistry_auth:\n${auth}`) as RunConfiguration

test('sealed: opens with the same swarm key; the text holds neither the password nor the user, in clear or base64', () => {
  const key = randomBytes(32)
  const s = sealerOf(key)
  const auth = { username: 'alice', password: PASSWORD }
  const sealed = s.seal(auth)
  assert.match(sealed, /^v1:[A-Za-z0-9+/=]+$/)
  for (const hidden of [PASSWORD, 'alice', Buffer.from(PASSWORD).toString('base64'), Buffer.from(JSON.stringify({ u: 'alice', p: PASSWORD })).toString('base64')]) assert.not.ok(sealed.includes(hidden), hidden)
  assert.equal(s.open(sealed), auth)
  assert.equal(sealerOf(Uint8Array.from(key)).open(sealed), auth, 'another host of the mesh opens it')
  assert.is.not(s.seal(auth), sealed, 'a fresh nonce each time')
})

test('sealed with another mesh\'s key, damaged, or not sealed at all: a clear error without the contents', () => {
  const sealed = sealerOf(randomBytes(32)).seal({ username: 'alice', password: PASSWORD })
  const other = sealerOf(randomBytes(32))
  const damaged = sealed.slice(0, -6) + (sealed.endsWith('AAAA==') ? 'BBBB==' : 'AAAA==')
  for (const bad of [sealed, damaged, 'v1:', 'v1:AAAA', JSON.stringify({ username: 'alice', password: PASSWORD })]) {
    const err = (() => { try { other.open(bad); return null } catch (e) { return e as Error } })()
    assert.ok(err, bad)
    assert.match(err!.message, /^the registry_auth of this job cannot be read here: it was sealed with another mesh's key, or damaged$/)
  }
})

test('redacted: a literal password becomes ***, references stay as written, the rest is the same object', () => {
  const literal = config(`  username: alice\n  password: ${PASSWORD}\n`)
  assert.equal(redactRegistryAuth(literal).registry_auth, { username: 'alice', password: '***' })
  assert.is(literal.registry_auth!.password, PASSWORD, 'the input is not changed')
  const refs = config('  username: ${{ env.U }}\n  password: ${{ env.P }}\n')
  assert.is(redactRegistryAuth(refs), refs)
  const mixed = config('  username: u\n  password: "x${{ env.P }}"\n')
  assert.is(redactRegistryAuth(mixed).registry_auth!.password, '***')
  const none = parseConfiguration('type: task\ncommands: ["true"]') as RunConfiguration
  assert.is(redactRegistryAuth(none), none)
  assert.equal(redactRegistryAuth(literal), redactRegistryAuth(config(`  username: alice\n  password: ${PASSWORD}\n`)), 'the same file redacts the same: re-applying it changes nothing')
})

test('the client resolves env.X from the run\'s env; what it cannot is left for the daemon to refuse', () => {
  const c = config('  username: ${{ env.REGISTRY_USERNAME }}\n  password: ${{ env.REGISTRY_PASSWORD }}\n')
  const given = resolveRegistryAuth(c, { REGISTRY_USERNAME: 'test_user', REGISTRY_PASSWORD: 'pa$$w${{x' })
  assert.equal(registryAuthFor(c, given), { username: 'test_user', password: 'pa$$w${{x' }, 'a $ in a value comes through as it is')
  const missing = resolveRegistryAuth(c, { REGISTRY_USERNAME: 'test_user' })
  assert.throws(() => registryAuthFor(c, missing), /^registry_auth\.password uses env\.REGISTRY_PASSWORD: the client resolves it from the run's env \(dstack apply\); set REGISTRY_PASSWORD there$/)
  assert.is(resolveRegistryAuth(parseConfiguration('type: task\ncommands: ["true"]') as RunConfiguration, {}), null)
})

test('the daemon: literal values without a client\'s resolution, secrets refused, empty values refused', () => {
  assert.equal(registryAuthFor(config(`  username: alice\n  password: ${PASSWORD}\n`), null), { username: 'alice', password: PASSWORD })
  assert.equal(registryAuthFor(config('  username: alice\n  password: "a$$b"\n'), undefined), { username: 'alice', password: 'a$b' }, '$$ is a literal $ (SPEC §1.7)')
  const secret = config('  username: alice\n  password: ${{ secrets.registry_pw }}\n')
  assert.throws(() => registryAuthFor(secret, resolveRegistryAuth(secret, {})), /^registry_auth\.password uses secrets\.registry_pw: secrets are not available yet$/)
  const empty = config('  username: ${{ env.U }}\n  password: x\n')
  assert.throws(() => registryAuthFor(empty, resolveRegistryAuth(empty, { U: '' })), /^registry_auth\.username is empty$/)
  assert.is(registryAuthFor(parseConfiguration('type: task\ncommands: ["true"]') as RunConfiguration, { username: 'x', password: 'y' }), null, 'no registry_auth in the configuration: none')
})

test.run()
