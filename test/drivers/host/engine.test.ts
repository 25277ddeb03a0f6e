// The container engine in the inventory: the real engine's version when one answers, and a
// clear reason (never a hang, never a throw) when what is at the socket is nothing, not an
// engine, or silent.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { engineEndpoint, getInventory, probeEngine } from '../../../drivers/host/index.ts'
import { suiteNeeding } from '../../skip.ts'

const dir = mkdtempSync(join(tmpdir(), 'engine-'))
const listen = (s: Server | ReturnType<typeof createNetServer>, path: string) => new Promise<void>(resolve => s.listen(path, resolve))

test.after(() => rmSync(dir, { recursive: true, force: true }))

test('DOCKER_HOST grammar: unix, tcp, a bare path, unset; anything else is refused by name', () => {
  assert.equal(engineEndpoint(undefined), { socketPath: '/var/run/docker.sock' })
  assert.equal(engineEndpoint(''), { socketPath: '/var/run/docker.sock' })
  assert.equal(engineEndpoint('unix:///run/user/1000/docker.sock'), { socketPath: '/run/user/1000/docker.sock' })
  assert.equal(engineEndpoint('tcp://127.0.0.1:2375'), { host: '127.0.0.1', port: 2375 })
  assert.equal(engineEndpoint('/tmp/d.sock'), { socketPath: '/tmp/d.sock' })
  assert.throws(() => engineEndpoint('ssh://me@box'), /DOCKER_HOST=ssh:\/\/me@box: expected unix/)
})

test('nothing at the socket: no engine, and the reason names where it looked', async () => {
  const r = await probeEngine({ socketPath: join(dir, 'none.sock') })
  assert.is(r.engine, null)
  assert.match((r as { why: string }).why, /no container engine at unix:\/\/.*none\.sock: ENOENT/)
})

test('an HTTP server that is not an engine, and one that answers an error', async () => {
  const path = join(dir, 'web.sock')
  const s = createServer((req, res) => { res.statusCode = req.url === '/version' ? 200 : 404; res.end('<html>hi</html>') })
  await listen(s, path)
  try {
    const r = await probeEngine({ socketPath: path })
    assert.is(r.engine, null)
    assert.match((r as { why: string }).why, /is not a container engine/)
  } finally { s.close() }
  const path2 = join(dir, 'err.sock')
  const s2 = createServer((_req, res) => { res.statusCode = 500; res.end('{}') })
  await listen(s2, path2)
  try {
    assert.match(((await probeEngine({ socketPath: path2 })) as { why: string }).why, /answered 500/)
  } finally { s2.close() }
})

test('a socket that accepts and never answers: absent after the time limit, not a hang', async () => {
  const path = join(dir, 'silent.sock')
  const held: Array<{ destroy (): void }> = []
  const s = createNetServer(c => { held.push(c) })
  await listen(s, path)
  try {
    const r = await probeEngine({ socketPath: path }, 200)
    assert.is(r.engine, null)
    assert.match((r as { why: string }).why, /no answer within 200 ms/)
  } finally { for (const c of held) c.destroy(); s.close() }
})

test('the inventory carries the engine, and none when told not to look', async () => {
  const off = await getInventory({ diskPath: dir, engine: null })
  assert.is(off.containerEngine, null)
  assert.match(off.containerEngineWhy!, /containers are off/)
  const none = await getInventory({ diskPath: dir, engine: { socketPath: join(dir, 'none.sock') } })
  assert.is(none.containerEngine, null)
  assert.match(none.containerEngineWhy!, /ENOENT/)
})

test.run()

// Against the real engine of this machine (scripts/ci/docker.sh starts it).
const real = await probeEngine(engineEndpoint())
const withEngine = suiteNeeding(import.meta.url, 'a Docker engine', real.engine === null ? (real as { why: string }).why : null)
withEngine('a real engine answers with its version', async () => {
  const inv = await getInventory({ diskPath: dir })
  assert.ok(inv.containerEngine, inv.containerEngineWhy)
  assert.is(inv.containerEngine!.name, 'docker')
  assert.match(inv.containerEngine!.version, /^\d+\.\d+/)
})
withEngine.run()
