// Real libp2p nodes on 127.0.0.1 (port 0, temp data dirs), in this process.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '../poll.ts'

const importStart = performance.now()
const { createMesh, parseJoinToken, formatJoinToken, JoinTokenError, MeshRpcError } = await import('../../mesh/index.ts')
const { FrameReader } = await import('../../mesh/rpc/libp2p.ts')
const { parseServerFrame } = await import('../../mesh/rpc/protocol.ts')
const importMs = performance.now() - importStart
type Mesh = Awaited<ReturnType<typeof createMesh>>
type MeshOptions = Parameters<typeof createMesh>[0]

const dirs: string[] = []
const running = new Set<Mesh>()
const numbers: Record<string, string> = { 'import mesh (libp2p stack)': `${importMs.toFixed(0)} ms` }

function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'dstack-mesh-'))
  dirs.push(d)
  return d
}

async function start (opts: Partial<MeshOptions> = {}): Promise<Mesh> {
  const mesh = await createMesh({
    dataDir: opts.dataDir ?? tempDir(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    reconnectMinDelayMs: 100,
    reconnectMaxDelayMs: 1000,
    dialTimeoutMs: 2000,
    ...opts
  })
  running.add(mesh)
  return mesh
}

async function stop (mesh: Mesh): Promise<void> {
  running.delete(mesh)
  await mesh.stop()
}

const ids = (m: Mesh): string[] => m.peers().map(p => p.id).sort()
const portOf = (m: Mesh): number => Number(/\/tcp\/(\d+)/.exec(m.addresses()[0]!)![1])
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function serveTestProtocols (m: Mesh): Promise<void> {
  await m.handle('/test/echo/1', (body, ctx) => ({ from: m.peerId, caller: ctx.peerId, body }))
  await m.handle('/test/count/1', async function * (body: { n: number }) {
    for (let i = 0; i < body.n; i++) yield { i }
  })
  await m.handle('/test/fail/1', (body: { coded?: boolean }) => {
    if (body?.coded === true) throw Object.assign(new Error('no such run: x'), { code: 'not_found' })
    throw new Error('boom')
  })
  await m.handle('/test/bigint/1', () => ({ n: 1n }))
  await m.handle('/test/slow/1', async (_body, ctx) => {
    await new Promise(resolve => { const t = setTimeout(resolve, 5000); ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve(undefined) }) })
    return 'late'
  })
}

let a: Mesh
let b: Mesh
let c: Mesh
let bDir: string
let cDir: string

test.after(async () => {
  await Promise.all([...running].map(async m => await m.stop().catch(() => {})))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  console.log('\nmesh measurements (loopback, in-process):')
  for (const [k, v] of Object.entries(numbers)) console.log(`  ${k}: ${v}`)
})

test('a node creates a mesh: identity and swarm key on disk (0600), a join token with the bound address', async () => {
  const dir = tempDir()
  const t0 = performance.now()
  a = await start({ dataDir: dir })
  numbers['node start (first, new keys)'] = `${(performance.now() - t0).toFixed(0)} ms`
  await serveTestProtocols(a)
  for (const f of ['identity.key', 'swarm.key']) {
    assert.ok(existsSync(join(dir, f)), f)
    assert.is(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} mode`)
  }
  const addr = a.addresses()[0]!
  assert.match(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
  assert.ok(portOf(a) > 0)
  assert.ok(addr.endsWith(`/p2p/${a.peerId}`))
  const token = parseJoinToken(a.joinToken())
  assert.equal(token.bootstrap, a.addresses())
  assert.is(token.swarmKey.length, 32)
})

test('two nodes: join with the token, requests both ways, a server stream in order, gossip', async () => {
  bDir = tempDir()
  const t0 = performance.now()
  b = await start({ dataDir: bDir, join: a.joinToken() })
  numbers['node start (joining)'] = `${(performance.now() - t0).toFixed(0)} ms`
  await serveTestProtocols(b)
  await b.waitForPeers(1, { timeoutMs: 5000 })
  numbers['start → connected to bootstrap peer'] = `${(performance.now() - t0).toFixed(0)} ms`
  await waitFor(() => ids(a).includes(b.peerId), { what: 'a sees b', timeout: 5000 })
  assert.equal(ids(b), [a.peerId])

  // the joiner keeps the mesh's swarm key
  assert.equal(parseJoinToken(b.joinToken()).swarmKey, parseJoinToken(a.joinToken()).swarmKey)

  const r1 = await b.request<any>(a.peerId, '/test/echo/1', { hello: 'a' })
  assert.equal(r1, { from: a.peerId, caller: b.peerId, body: { hello: 'a' } })
  const r2 = await a.request<any>(b.peerId, '/test/echo/1', [1, 'two', null])
  assert.equal(r2, { from: b.peerId, caller: a.peerId, body: [1, 'two', null] })
  // a request without a body, and to ourselves
  assert.equal(await a.request<any>(b.peerId, '/test/echo/1'), { from: b.peerId, caller: a.peerId })
  assert.equal(await a.request<any>(a.peerId, '/test/echo/1', { x: 1 }), { from: a.peerId, caller: a.peerId, body: { x: 1 } })

  // latency of a request/response on a fresh stream
  const times: number[] = []
  for (let i = 0; i < 50; i++) {
    const t = performance.now()
    await b.request(a.peerId, '/test/echo/1', { i })
    times.push(performance.now() - t)
  }
  numbers['request/response (median of 50, fresh stream each)'] = `${median(times).toFixed(2)} ms (max ${Math.max(...times).toFixed(1)} ms)`
  const tc = performance.now()
  await Promise.all(Array.from({ length: 200 }, async (_, i) => await b.request(a.peerId, '/test/echo/1', { i })))
  numbers['200 concurrent requests'] = `${(performance.now() - tc).toFixed(0)} ms`

  const N = 500
  const items: number[] = []
  const ts = performance.now()
  for await (const item of b.stream<{ i: number }>(a.peerId, '/test/count/1', { n: N })) items.push(item.i)
  numbers[`server stream of ${N} items`] = `${(performance.now() - ts).toFixed(1)} ms`
  assert.equal(items, Array.from({ length: N }, (_, i) => i))
  // leaving a stream early is fine
  for await (const item of a.stream<{ i: number }>(b.peerId, '/test/count/1', { n: 1_000_000 })) { if (item.i === 3) break }

  // gossip
  const got: Array<{ value: any, from: string, at: number }> = []
  b.subscribe('test/inventory', (value, meta) => { got.push({ value, from: meta.from, at: performance.now() }) })
  a.subscribe('test/inventory', () => {})
  await waitFor(() => a.subscribers('test/inventory').includes(b.peerId), { what: 'a knows b subscribes', timeout: 5000 })
  const lat: number[] = []
  for (let seq = 0; seq < 20; seq++) {
    const t = performance.now()
    await a.publish('test/inventory', { seq, gpus: [{ name: 'A100', memory: '80GB' }] })
    await waitFor(() => got.some(g => g.value.seq === seq), { what: `gossip ${seq}`, timeout: 3000 })
    lat.push(got.find(g => g.value.seq === seq)!.at - t)
  }
  numbers['gossip a → b (median of 20)'] = `${median(lat).toFixed(2)} ms (max ${Math.max(...lat).toFixed(1)} ms)`
  assert.is(got[0]!.from, a.peerId)
  assert.equal(got.map(g => g.value.seq), Array.from({ length: 20 }, (_, i) => i))
})

test('a third node joins: it finds both members, requests and gossip reach everyone', async () => {
  cDir = tempDir()
  c = await start({ dataDir: cDir, join: a.joinToken() })
  await serveTestProtocols(c)
  // c learns about b from a (peer exchange) and connects to it too
  await waitFor(() => ids(a).length === 2 && ids(b).length === 2 && ids(c).length === 2, { what: 'full mesh of three', timeout: 5000 })
  assert.equal(ids(c), [a.peerId, b.peerId].sort())
  for (const [x, y] of [[c, b], [b, c], [c, a], [a, c]] as const) {
    const r = await x.request<any>(y.peerId, '/test/echo/1', { n: 3 })
    assert.is(r.from, y.peerId)
    assert.is(r.caller, x.peerId)
  }
  const items: number[] = []
  for await (const item of c.stream<{ i: number }>(b.peerId, '/test/count/1', { n: 100 })) items.push(item.i)
  assert.equal(items, Array.from({ length: 100 }, (_, i) => i))

  const seen = new Map<string, any[]>([[a.peerId, []], [b.peerId, []], [c.peerId, []]])
  const unsubs = [a, b, c].map(m => m.subscribe('test/three', v => { seen.get(m.peerId)!.push(v) }))
  await waitFor(() => [a, b, c].every(m => m.subscribers('test/three').length === 2), { what: 'subscriptions known', timeout: 5000 })
  await c.publish('test/three', { from: 'c' })
  await a.publish('test/three', { from: 'a' })
  await waitFor(() =>
    seen.get(a.peerId)!.length === 1 && seen.get(b.peerId)!.length === 2 && seen.get(c.peerId)!.length === 1, { what: 'gossip reaches the others', timeout: 5000 })
  assert.equal(seen.get(a.peerId), [{ from: 'c' }])
  assert.equal(seen.get(c.peerId), [{ from: 'a' }])
  for (const u of unsubs) u()
})

test('handler errors, timeouts and missing handlers come back as clear errors', async () => {
  try {
    await b.request(a.peerId, '/test/fail/1', { coded: true })
    assert.unreachable()
  } catch (err: any) {
    assert.instance(err, MeshRpcError)
    assert.is(err.code, 'not_found')
    assert.is(err.remote, true)
    assert.is(err.message, 'no such run: x')
  }
  try { await b.request(a.peerId, '/test/fail/1', {}); assert.unreachable() } catch (err: any) { assert.is(err.code, 'internal'); assert.is(err.message, 'boom') }
  try { await b.request(a.peerId, '/test/nothing/1', {}); assert.unreachable() } catch (err: any) { assert.is(err.code, 'no_handler') }
  try { await b.request(a.peerId, '/test/count/1', { n: 2 }); assert.unreachable() } catch (err: any) { assert.is(err.code, 'is_stream') }
  try { await b.request(a.peerId, '/test/slow/1', {}, { timeoutMs: 200 }); assert.unreachable() } catch (err: any) { assert.is(err.code, 'timeout'); assert.match(err.message, /200 ms/) }
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 100)
  try { await b.request(a.peerId, '/test/slow/1', {}, { signal: ac.signal }); assert.unreachable() } catch (err: any) { assert.is(err.code, 'cancelled') }
  try { await b.request(a.peerId, '/test/bigint/1', {}); assert.unreachable() } catch (err: any) { assert.is(err.code, 'internal'); assert.match(err.message, /cannot be sent/) }
  try { await b.request(a.peerId, '/test/echo/1', { n: 1n }); assert.unreachable() } catch (err: any) { assert.is(err.code, 'bad_frame'); assert.match(err.message, /cannot be sent/) }
  try { await b.request('not-a-peer-id', '/test/echo/1', {}); assert.unreachable() } catch (err: any) { assert.is(err.code, 'bad_peer_id') }
  try { await b.request(a.peerId, '/test/echo/1', { big: 'x'.repeat(17 * 1024 * 1024) }); assert.unreachable() } catch (err: any) { assert.is(err.code, 'frame_too_large') }
  assert.is((await b.request<any>(a.peerId, '/test/echo/1', 'still fine')).body, 'still fine')
})

test('a slow reader holds back a fast streaming handler, which does not block the node', async () => {
  let produced = 0
  const pad = 'x'.repeat(1000)
  await a.handle('/test/firehose/1', async function * () {
    for (let i = 0; i < 1_000_000; i++) { produced++; yield { i, pad } }
  })
  const t0 = performance.now()
  let n = 0
  for await (const item of b.stream<{ i: number }>(a.peerId, '/test/firehose/1')) {
    assert.is(item.i, n++)
    if (n === 1) {
      // the handler waits for the reader instead of running on: while nobody reads it makes
      // about 6 MB (reader buffer + yamux window) of 1 KB items, not a million
      await new Promise(resolve => setTimeout(resolve, 500))
      assert.ok(produced < 20_000, `produced ${produced} while nobody read`)
      numbers['items buffered for a stalled reader (1 KB each)'] = String(produced)
    }
    if (n === 50_000) break
  }
  numbers['50,000 streamed items of 1 KB'] = `${(performance.now() - t0 - 500).toFixed(0)} ms`
  await a.unhandle('/test/firehose/1')
})

test('garbage on the RPC protocol ends that stream with an error frame; the node goes on', async () => {
  async function raw (bytes: Uint8Array[], closeWrite = true): Promise<{ code?: string, message?: string, ended: boolean }> {
    const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, '/test/echo/1', { signal: AbortSignal.timeout(3000) })
    const reader = new FrameReader(stream, 1024 * 1024)
    try {
      for (const chunk of bytes) stream.send(chunk)
      if (closeWrite) await stream.close()
      const frame = await reader.next(AbortSignal.timeout(3000))
      if (frame === null) return { ended: true }
      const msg = parseServerFrame(frame)
      return msg.type === 'error' ? { ...msg.error, ended: (await reader.next(AbortSignal.timeout(3000))) === null } : { ended: false }
    } finally {
      reader.dispose()
      stream.abort(new Error('done'))
    }
  }
  const header = (n: number): Uint8Array => { const h = Buffer.alloc(4); h.writeUInt32BE(n >>> 0); return h }
  const frame = (s: string): Uint8Array => { const body = Buffer.from(s); return Buffer.concat([header(body.length), body]) }

  const tooBig = await raw([header(0xffffffff), randomBytes(100)])
  assert.is(tooBig.code, 'frame_too_large')
  assert.match(tooBig.message!, /4294967295/)
  assert.is(tooBig.ended, true)
  const notJson = await raw([frame('{"body": nope')])
  assert.is(notJson.code, 'bad_frame')
  assert.match(notJson.message!, /not JSON/)
  assert.is((await raw([frame('[1,2]')])).code, 'bad_frame')
  assert.is((await raw([frame('{"body":1,"extra":2}')])).code, 'bad_frame')
  assert.is((await raw([Buffer.from([0xff, 0xfe, 0xfd, 0xfc])].map(x => Buffer.concat([header(4), x])))).code, 'bad_frame')
  const early = await raw([header(1000), Buffer.from('{"body":')])
  assert.is(early.code, 'bad_frame')
  assert.match(early.message!, /ended inside a frame/)
  // a session that asks nothing and ends is over, without a word
  assert.equal(await raw([]), { ended: true })
  for (let i = 0; i < 20; i++) {
    const r = await raw([randomBytes(1 + Math.floor(Math.random() * 2000))])
    assert.ok(r.code === 'bad_frame' || r.code === 'frame_too_large', `random bytes: ${JSON.stringify(r)}`)
  }
  // a stream opened and dropped without a word
  const s = await b.libp2p.dialProtocol(a.libp2p.peerId, '/test/echo/1')
  s.abort(new Error('gone'))

  // everything else goes on
  assert.ok(ids(a).includes(b.peerId))
  assert.equal((await b.request<any>(a.peerId, '/test/echo/1', { after: 'garbage' })).body, { after: 'garbage' })
  assert.equal((await c.request<any>(a.peerId, '/test/echo/1', 7)).body, 7)
})

test('channels: messages arrive in order over one stream, survive a dropped connection, and garbage ends only its stream', async () => {
  const got: Array<{ i: number, from: string }> = []
  const chA = await a.channel('/test/chan/1', (v, from) => { got.push({ i: v.i as number, from }) })
  const chB = await b.channel('/test/chan/1', () => {}, { timeoutMs: 1000 })
  const streamsBefore = a.libp2p.getConnections(b.libp2p.peerId).flatMap(c => c.streams).filter(s => s.protocol === '/test/chan/1').length
  for (let i = 0; i < 300; i++) assert.ok(chB.send(a.peerId, { i }))
  await waitFor(() => got.length === 300, { what: '300 messages', timeout: 5000 })
  assert.equal(got.map(g => g.i), Array.from({ length: 300 }, (_, i) => i))
  assert.ok(got.every(g => g.from === b.peerId))
  assert.ok(chA.lastHeard(b.peerId)! > Date.now() - 5000)
  // one stream carried them all, not one per message
  const streams = a.libp2p.getConnections(b.libp2p.peerId).flatMap(c => c.streams).filter(s => s.protocol === '/test/chan/1').length
  assert.is(streams - streamsBefore, 1)

  // garbage on the protocol ends that stream; b's own stream and the node go on
  const raw = await c.libp2p.dialProtocol(a.libp2p.peerId, '/test/chan/1', { signal: AbortSignal.timeout(3000) })
  raw.send(Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]))
  await waitFor(() => raw.status !== 'open', { what: 'the garbage stream to end', timeout: 5000 })
  got.length = 0
  assert.ok(chB.send(a.peerId, { i: 1000 }))
  await waitFor(() => got.length === 1, { what: 'a message after the garbage', timeout: 5000 })

  // the connection drops: the next message opens a new stream
  await b.libp2p.hangUp(a.libp2p.peerId)
  await waitFor(() => !ids(b).includes(a.peerId) || b.libp2p.getConnections(a.libp2p.peerId).every(c => c.status !== 'open'), { what: 'b and a disconnected', timeout: 5000 })
  assert.ok(chB.send(a.peerId, { i: 1001 }))
  await waitFor(() => got.some(g => g.i === 1001), { what: 'a message over the new connection', timeout: 5000 })

  // a peer that does not serve the protocol: the first message is lost, then sends are dropped for a moment
  chB.send(c.peerId, { i: 1 })
  await waitFor(() => !chB.send(c.peerId, { i: 2 }), { what: 'sends to c to be refused', timeout: 5000 })
  // to itself: delivered locally, as a copy
  const self: unknown[] = []
  const chC = await c.channel('/test/chan/2', v => { self.push(v) })
  const value = { i: 7 }
  assert.ok(chC.send(c.peerId, value))
  await waitFor(() => self.length === 1, { what: 'a message to itself', timeout: 5000 })
  assert.equal(self[0], { i: 7 })
  assert.is.not(self[0], value)
  await Promise.all([chA.close(), chB.close(), chC.close()])
  assert.not.ok(chB.send(a.peerId, { i: 0 }))
})

test('a node with another swarm key cannot connect, and no request gets through', async () => {
  const stranger = await start({ dialTimeoutMs: 1500 })
  await serveTestProtocols(stranger)
  const seenByA: string[] = []
  const off = a.on('peer:connect', id => seenByA.push(id))
  for (const target of [a, b]) {
    try {
      await stranger.connect(target.addresses()[0]!, { signal: AbortSignal.timeout(3000) })
      assert.unreachable('connected without the key')
    } catch (err: any) {
      assert.not.instance(err, assert.Assertion)
      assert.ok(['handshake_failed', 'timeout'].includes(err.code), `${err.code}: ${err.message}`)
      assert.match(err.message, /swarm key/)
    }
  }
  try {
    await a.connect(stranger.addresses()[0]!, { signal: AbortSignal.timeout(1500) })
    assert.unreachable('connected to a stranger')
  } catch (err: any) {
    assert.not.instance(err, assert.Assertion)
  }
  try {
    await stranger.request(a.peerId, '/test/echo/1', {}, { timeoutMs: 1500 })
    assert.unreachable('request got through')
  } catch (err: any) {
    assert.instance(err, MeshRpcError)
    assert.ok(['unreachable', 'timeout'].includes(err.code), err.code)
  }
  assert.not.ok(ids(a).includes(stranger.peerId))
  assert.not.ok(ids(b).includes(stranger.peerId))
  assert.equal(ids(stranger), [])
  assert.not.ok(seenByA.includes(stranger.peerId))
  off()
  await stop(stranger)
})

test('identity persists, a peer that goes away shows in peer:disconnect, and the others reconnect when it comes back', async () => {
  const oldId = b.peerId
  const port = portOf(b)
  const gone: string[] = []
  const back: string[] = []
  const offs = [a.on('peer:disconnect', id => gone.push(`a:${id}`)), c.on('peer:disconnect', id => gone.push(`c:${id}`)),
    a.on('peer:connect', id => back.push(`a:${id}`)), c.on('peer:connect', id => back.push(`c:${id}`))]
  await stop(b)
  await waitFor(() => gone.includes(`a:${oldId}`) && gone.includes(`c:${oldId}`), { what: 'disconnect events', timeout: 5000 })
  assert.not.ok(ids(a).includes(oldId))
  await new Promise(resolve => setTimeout(resolve, 800)) // a and c redial and fail meanwhile

  // same data dir and port, no token: it rejoins the mesh its data dir belongs to
  const t0 = performance.now()
  b = await start({ dataDir: bDir, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  numbers['node restart (existing keys)'] = `${(performance.now() - t0).toFixed(0)} ms`
  assert.is(b.peerId, oldId)
  await serveTestProtocols(b)
  await waitFor(() => ids(a).includes(oldId) && ids(c).includes(oldId) && ids(b).length === 2, { what: 'a and c reconnect to b', timeout: 5000 })
  numbers['restart → reconnected to both members'] = `${(performance.now() - t0).toFixed(0)} ms`
  assert.ok(back.includes(`a:${oldId}`) && back.includes(`c:${oldId}`))
  assert.is((await a.request<any>(oldId, '/test/echo/1', 'again')).from, oldId)
  assert.is((await b.request<any>(c.peerId, '/test/echo/1', 'again')).from, c.peerId)
  for (const off of offs) off()
})

test('the members redial a node that went away, even when it remembers nobody', async () => {
  // c goes away; a and b keep redialing it. It comes back on the same port with its identity but
  // without peers.json, so it dials nobody itself: a and b must find it.
  const cId = c.peerId
  const port = portOf(c)
  const remembered = JSON.parse(readFileSync(join(cDir, 'peers.json'), 'utf8'))
  assert.equal(remembered.peers.map((p: { id: string }) => p.id).sort(), [a.peerId, b.peerId].sort())
  await stop(c)
  await waitFor(() => !ids(a).includes(cId) && !ids(b).includes(cId), { what: 'c gone', timeout: 5000 })
  rmSync(join(cDir, 'peers.json'))
  await new Promise(resolve => setTimeout(resolve, 1500)) // several failed redials: the backoff grows to its 1 s cap
  const t0 = performance.now()
  c = await start({ dataDir: cDir, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  assert.is(c.peerId, cId)
  await waitFor(() => ids(a).includes(cId) && ids(b).includes(cId) && ids(c).length === 2, { what: 'a and b redial c', timeout: 5000 })
  numbers['redialed by the others after coming back (backoff cap 1 s)'] = `${(performance.now() - t0).toFixed(0)} ms`
  assert.is((await c.request<any>(a.peerId, '/test/echo/1', 1)).from, a.peerId)
})

test('join tokens: garbage, truncated, wrong prefix, bad key are refused with clear errors', async () => {
  const good = a.joinToken()
  const cases: Array<[string, unknown, RegExp]> = [
    ['empty', '', /empty/],
    ['not a string', 42, /expected a string/],
    ['garbage', 'hello world', /must start with 'dstack1\.'/],
    ['wrong prefix', 'dstack2.' + good.slice(8), /must start with 'dstack1\.'.*'dstack2\.'/],
    ['nothing after the prefix', 'dstack1.', /nothing follows/],
    ['not base64url', good + '!!', /not base64url/],
    ['truncated', good.slice(0, Math.floor(good.length * 0.6)), /truncated or corrupted/],
    ['truncated by one', good.slice(0, -1), /truncated or corrupted/],
    ['not an object', 'dstack1.' + Buffer.from('[1]').toString('base64url'), /not an object/],
    ['version', 'dstack1.' + Buffer.from('{"v":2}').toString('base64url'), /version 2/],
    ['short key', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'ab'.repeat(31), a: a.addresses() })).toString('base64url'), /62 hex digits, expected 64/],
    ['long key', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'ab'.repeat(33), a: a.addresses() })).toString('base64url'), /66 hex digits/],
    ['non-hex key', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'zz'.repeat(32), a: a.addresses() })).toString('base64url'), /not hexadecimal/],
    ['no addresses', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'ab'.repeat(32), a: [] })).toString('base64url'), /no bootstrap addresses/],
    ['bad address', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'ab'.repeat(32), a: ['/ip4/1.2.3/tcp/x'] })).toString('base64url'), /bootstrap address 1 .* is not a multiaddr/],
    ['address without peer id', 'dstack1.' + Buffer.from(JSON.stringify({ v: 1, k: 'ab'.repeat(32), a: ['/ip4/127.0.0.1/tcp/1'] })).toString('base64url'), /does not end in \/p2p/],
    ['huge', 'dstack1.' + 'A'.repeat(20000), /characters long/]
  ]
  const secret = Buffer.from(parseJoinToken(good).swarmKey).toString('hex')
  for (const [name, input, re] of cases) {
    try {
      parseJoinToken(input)
      assert.unreachable(`${name}: accepted`)
    } catch (err: any) {
      assert.instance(err, JoinTokenError, name)
      assert.match(err.message, /^invalid join token: /, name)
      assert.match(err.message, re, `${name}: ${err.message}`)
      assert.not.ok(err.message.includes(secret), `${name}: the key leaks`)
    }
  }
  // round trip, surrounding whitespace tolerated
  const parsed = parseJoinToken(`  ${good}\n`)
  assert.is(formatJoinToken(parsed), good)

  // createMesh refuses a bad token before it writes anything
  const dir = join(tempDir(), 'never-made')
  try {
    await createMesh({ dataDir: dir, join: good.slice(0, 30), listen: ['/ip4/127.0.0.1/tcp/0'] })
    assert.unreachable()
  } catch (err) {
    assert.instance(err, JoinTokenError)
  }
  assert.not.ok(existsSync(dir))
  // a data dir of one mesh refuses another mesh's token
  const other = await start()
  try {
    await createMesh({ dataDir: bDir, join: other.joinToken(), listen: ['/ip4/127.0.0.1/tcp/0'] })
    assert.unreachable()
  } catch (err: any) {
    assert.match(err.message, /already belongs to another mesh/)
  }
  await stop(other)
})

test('bad listen addresses fail with a clear error', async () => {
  try {
    await createMesh({ dataDir: tempDir(), listen: [`/ip4/127.0.0.1/tcp/${portOf(a)}`] })
    assert.unreachable()
  } catch (err: any) {
    assert.is(err.message, `cannot listen on /ip4/127.0.0.1/tcp/${portOf(a)} (listen EADDRINUSE: address already in use 127.0.0.1:${portOf(a)})`)
  }
  try {
    await createMesh({ dataDir: tempDir(), listen: ['127.0.0.1:80'] })
    assert.unreachable()
  } catch (err: any) {
    assert.match(err.message, /invalid listen\/announce address "127\.0\.0\.1:80"/)
  }
})

test('invalid gossip payloads are dropped; handlers that throw do not stop delivery', async () => {
  const got: unknown[] = []
  b.subscribe('test/raw', () => { throw new Error('handler bug') })
  b.subscribe('test/raw', v => { got.push(v) })
  await waitFor(() => a.subscribers('test/raw').includes(b.peerId), { what: 'a knows b subscribes', timeout: 5000 })
  // a bypasses the mesh and publishes bytes that are not JSON
  await (a.libp2p.services as any).pubsub.publish('test/raw', new TextEncoder().encode('{not json'))
  await a.publish('test/raw', { ok: 1 })
  await waitFor(() => got.length >= 1, { what: 'the valid message', timeout: 5000 })
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(got, [{ ok: 1 }])
})

test('a forgotten member is cut off and refused both ways; the others are not', async () => {
  const d = await start({ join: a.joinToken() })
  await waitFor(() => ids(a).includes(d.peerId), { what: 'd connected to a', timeout: 5000 })
  await a.forget(d.peerId)
  await waitFor(() => !ids(a).includes(d.peerId), { what: 'a drops d', timeout: 5000 })
  const back: string[] = []
  const off = a.on('peer:connect', id => back.push(id))
  // d may see its side of the handshake finish, but a closes such a connection at once
  await d.connect(a.addresses()[0]!).catch(() => {})
  let err: any
  try { await a.connect(d.addresses()[0]!) } catch (e) { err = e }
  assert.ok(err, 'a must not dial d')
  await new Promise(resolve => setTimeout(resolve, 600)) // a's redial tick would have run
  await waitFor(() => !ids(a).includes(d.peerId) && !ids(d).includes(a.peerId), { what: 'no connection between a and d', timeout: 5000 })
  assert.not.ok(back.includes(d.peerId), 'a never took d back')
  off()
  assert.is((await b.request<any>(a.peerId, '/test/echo/1', 'still')).body, 'still')
  await stop(d)
})

test.run()
