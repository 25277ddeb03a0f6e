import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiError, connectApi as connectTyped, type ConnectOptions } from '../../../daemon/api/client.ts'
import type { RpcClient } from '../../../mesh/rpc/client.ts'
import { createApiServer, type ApiServer } from '../../../daemon/api/server.ts'
import { FRAME_HEADER_BYTES, FrameDecoder as Decoder, MAX_FRAME_BYTES, PRE_AUTH_MAX_FRAME_BYTES, ProtocolError, encodeFrame as encode } from '../../../mesh/frames.ts'
import { parseClientFrame, RpcError } from '../../../mesh/rpc/protocol.ts'
import type { Handler } from '../../../mesh/rpc/server.ts'
import { seededRandom } from '../../../mesh/raft/random.ts'
import { waitFor } from '../../poll.ts'

// The socket API is the RPC engine (mesh/rpc/) on a Unix socket; these tests pin the engine's
// behaviour there, test/daemon/api/transports.test.ts the same on every transport.
/** The socket's client, untyped: these tests serve methods of their own, not the table's. */
const connectApi = async (o: ConnectOptions): Promise<RpcClient> => await connectTyped(o) as unknown as RpcClient
function encodeFrame (value: unknown, max = MAX_FRAME_BYTES): Buffer {
  const f = encode(value, max)
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength)
}
class FrameDecoder extends Decoder {
  constructor (opts: { maxFrameBytes?: number } = {}) { super({ maxFrameBytes: opts.maxFrameBytes ?? MAX_FRAME_BYTES }) }
}

const TOKEN = 'secret-token-123'

// ---------------------------------------------------------------------------------------------
// Frames

test('encodeFrame: 4-byte big-endian length, then UTF-8 JSON', () => {
  const frame = encodeFrame({ a: 'é' })
  assert.is(frame.readUInt32BE(0), Buffer.byteLength('{"a":"é"}'))
  assert.is(frame.subarray(FRAME_HEADER_BYTES).toString('utf8'), '{"a":"é"}')
  assert.is(MAX_FRAME_BYTES, 16 * 1024 * 1024)
})

test('encodeFrame: over the limit and not-JSON values throw', () => {
  assert.throws(() => encodeFrame({ s: 'x'.repeat(100) }, 50), (e: unknown) => e instanceof ProtocolError && e.code === 'frame_too_large')
  assert.throws(() => encodeFrame(undefined), (e: unknown) => e instanceof TypeError)
  assert.throws(() => encodeFrame({ n: 1n }), (e: unknown) => e instanceof TypeError)
})

test('FrameDecoder: every chunk boundary gives the same frames', () => {
  const values = [{ type: 'a', n: 1 }, { type: 'b', s: 'héllo wörld' }, { type: 'c', list: [1, 2, 3] }]
  const bytes = Buffer.concat(values.map(v => encodeFrame(v)))
  for (let cut = 0; cut <= bytes.length; cut++) {
    for (const size of [1, 3, 7]) {
      const d = new FrameDecoder()
      const out = [...d.push(bytes.subarray(0, cut))]
      for (let i = cut; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, Math.min(bytes.length, i + size))))
      assert.equal(out, values)
      assert.ok(d.idle)
    }
  }
})

// How long a 4 MiB frame takes this way (linear, not quadratic): scripts/bench/frames.ts.
test('FrameDecoder: a frame fed one byte at a time comes out whole, once', () => {
  const big = { type: 'req', id: 1, method: 'echo', params: 'y'.repeat(64 * 1024) }
  const bytes = encodeFrame(big)
  const d = new FrameDecoder()
  const out: unknown[] = []
  for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.subarray(i, i + 1)))
  assert.is(out.length, 1)
  assert.equal(out[0], big)
})

test('FrameDecoder: declared length over the limit throws at the header, before the body', () => {
  const d = new FrameDecoder({ maxFrameBytes: 1000 })
  const header = Buffer.alloc(4)
  header.writeUInt32BE(0xffffffff)
  assert.throws(() => d.push(header), (e: unknown) => e instanceof ProtocolError && e.code === 'frame_too_large' && /4294967295/.test(e.message))
  // Spent: the next push throws too.
  assert.throws(() => d.push(encodeFrame({ type: 'x' })), (e: unknown) => e instanceof ProtocolError)
})

test('FrameDecoder: bad UTF-8, bad JSON and non-objects are bad_frame', () => {
  const raw = (body: Buffer): Buffer => { const h = Buffer.alloc(4); h.writeUInt32BE(body.length); return Buffer.concat([h, body]) }
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), /UTF-8/],
    [Buffer.from('{"type":'), /not valid JSON/],
    [Buffer.from('[1,2]'), /JSON object, not an array/],
    [Buffer.from('42'), /not a number/],
    [Buffer.from('null'), /not null/],
    [Buffer.from('"str"'), /not a string/],
    [Buffer.alloc(0), /not valid JSON/]
  ]
  for (const [body, message] of cases) {
    assert.throws(() => new FrameDecoder().push(raw(body)), (e: unknown) => e instanceof ProtocolError && e.code === 'bad_frame' && message.test(e.message))
  }
})

test('parseClientFrame: shapes', () => {
  assert.equal(parseClientFrame({ type: 'req', id: 3, method: 'ps', params: { a: 1 } }), { type: 'req', id: 3, method: 'ps', params: { a: 1 } })
  assert.equal(parseClientFrame({ type: 'cancel', id: 3 }), { type: 'cancel', id: 3 })
  for (const bad of [{}, { type: 1 }, { type: 'req', id: 1.5, method: 'x' }, { type: 'req', id: -1, method: 'x' }, { type: 'req', id: 1 },
    { type: 'req', id: 1, method: '' }, { type: 'auth' }, { type: 'cancel' }, { type: 'res', id: 1 }, []]) {
    assert.throws(() => parseClientFrame(bad), (e: unknown) => e instanceof ProtocolError, JSON.stringify(bad))
  }
})

// ---------------------------------------------------------------------------------------------
// A server to talk to

interface Fixture {
  dir: string
  socketPath: string
  server: ApiServer
  events: Array<Record<string, unknown>>
  state: { streamClosed: number, lastSignal?: AbortSignal, produced: number }
}

function handlers (state: Fixture['state']): Record<string, Handler> {
  return {
    echo: async params => params,
    add: async params => { const { a, b } = params as { a: number, b: number }; return a + b },
    nothing: async () => undefined,
    big: async params => 'x'.repeat((params as { n: number }).n),
    sleep: async (params, { signal }) => {
      state.lastSignal = signal
      await sleep((params as { ms: number }).ms)
      return (params as { value?: unknown }).value ?? null
    },
    hang: async (_params, { signal }) => {
      state.lastSignal = signal
      return await new Promise(() => {})
    },
    notFound: async () => { throw new RpcError('not_found', 'run "x" not found', { name: 'x' }) },
    coded: async () => { throw Object.assign(new Error('disk full'), { code: 'no_space' }) },
    boom: async () => { throw new Error('kaboom') },
    throwsSync: (() => { throw new Error('sync kaboom') }) as Handler,
    bigint: async () => 1n,
    peer: async (_p, { peer }) => peer,
    count: params => (async function * () {
      for (let i = 0; i < (params as { n: number }).n; i++) yield i
    })(),
    // An async handler that sets up and then returns its stream.
    countLater: async params => {
      await sleep(5)
      return (async function * () { for (let i = 0; i < (params as { n: number }).n; i++) yield i })()
    },
    failAfter: params => (async function * () {
      for (let i = 0; i < (params as { n: number }).n; i++) yield i
      throw new RpcError('log_gone', 'the log was deleted')
    })(),
    forever: (_params, { signal }) => {
      state.lastSignal = signal
      return (async function * () {
        try {
          for (let i = 0; ; i++) { yield i; await sleep(1) }
        } finally {
          state.streamClosed++
        }
      })()
    },
    flood: () => (async function * () {
      const line = 'z'.repeat(1024)
      for (let i = 0; i < 100_000; i++) { state.produced++; yield { i, line } }
    })()
  }
}

async function start (opts: { authTimeoutMs?: number, token?: string | (() => string) } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'dapi-'))
  const socketPath = join(dir, 'api.sock')
  const events: Array<Record<string, unknown>> = []
  const state: Fixture['state'] = { streamClosed: 0, produced: 0 }
  const server = await createApiServer({
    socketPath,
    token: opts.token ?? TOKEN,
    handlers: handlers(state),
    info: { name: 'test-node', version: '0.0.0' },
    ...(opts.authTimeoutMs !== undefined ? { authTimeoutMs: opts.authTimeoutMs } : {}),
    log: e => events.push(e as Record<string, unknown>)
  })
  return { dir, socketPath, server, events, state }
}

async function stop (f: Fixture): Promise<void> {
  await f.server.close()
  await rm(f.dir, { recursive: true, force: true })
}

async function errorOf (p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (err) {
    assert.instance(err, ApiError)
    return err as ApiError
  }
  throw new Error('expected a rejection')
}

/** A raw connection: writes what it is told, collects every byte until the server closes it. */
function raw (socketPath: string): { socket: net.Socket, frames: unknown[], closed: Promise<unknown[]> } {
  const socket = net.connect(socketPath)
  const decoder = new FrameDecoder()
  const frames: unknown[] = []
  const closed = new Promise<unknown[]>(resolve => {
    socket.on('data', chunk => { try { frames.push(...decoder.push(chunk)) } catch { frames.push('undecodable') } })
    socket.on('error', () => {})
    socket.on('close', () => resolve(frames))
  })
  return { socket, frames, closed }
}

function authFrame (token = TOKEN): Buffer {
  return encodeFrame({ type: 'auth', token })
}

function header (n: number): Buffer {
  const h = Buffer.alloc(4)
  h.writeUInt32BE(n)
  return h
}

// ---------------------------------------------------------------------------------------------
// Calls

test('round trip: auth, server info, calls with and without params', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  assert.is(c.server.name, 'test-node')
  assert.is(c.server.protocol, 2)
  assert.equal(await c.call('echo', { a: [1, 'two', null], b: 'ü' }), { a: [1, 'two', null], b: 'ü' })
  assert.is(await c.call('add', { a: 2, b: 3 }), 5)
  assert.is(await c.call('nothing'), null)
  assert.match(await c.call('peer'), /^unix#\d+$/)
  assert.is(f.server.connections(), 1)
  await c.close()
  assert.ok(c.closed)
  await waitFor(() => f.server.connections() === 0, { what: 'the server to see the close', timeout: 3000 })
  await stop(f)
})

test('the socket file is mode 0600', async () => {
  const f = await start()
  const s = await stat(f.socketPath)
  assert.ok(s.isSocket())
  assert.is(s.mode & 0o777, 0o600)
  await stop(f)
})

test('many calls in flight on one connection, answered out of order', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const n = 300
  const results = await Promise.all(Array.from({ length: n }, (_, i) =>
    c.call('sleep', { ms: (i * 7919) % 30, value: i })))
  assert.equal(results, Array.from({ length: n }, (_, i) => i))
  await c.close()
  await stop(f)
})

test('errors: unknown method, handler codes with details, internal errors are logged', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  let e = await errorOf(c.call('nope'))
  assert.is(e.code, 'unknown_method')
  assert.match(e.message, /nope/)
  e = await errorOf(c.call('notFound'))
  assert.is(e.code, 'not_found')
  assert.is(e.message, 'run "x" not found')
  assert.equal(e.details, { name: 'x' })
  e = await errorOf(c.call('coded'))
  assert.is(e.code, 'no_space')
  assert.is(e.message, 'disk full')
  e = await errorOf(c.call('boom'))
  assert.is(e.code, 'internal')
  assert.is(e.message, 'kaboom')
  assert.ok(f.events.some(ev => ev.event === 'handler_error' && ev.method === 'boom' && ev.error === 'kaboom'))
  e = await errorOf(c.call('throwsSync'))
  assert.is(e.code, 'internal')
  assert.is(e.message, 'sync kaboom')
  e = await errorOf(c.call('bigint'))
  assert.is(e.code, 'internal')
  assert.match(e.message, /cannot be sent as JSON/)
  // The connection survives all of it.
  assert.is(await c.call('add', { a: 1, b: 1 }), 2)
  await c.close()
  await stop(f)
})

test('a result larger than the frame limit is an error, not a broken connection', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const e = await errorOf(c.call('big', { n: MAX_FRAME_BYTES + 1 }))
  assert.is(e.code, 'frame_too_large')
  assert.match(e.message, /result too large/)
  assert.is((await c.call('big', { n: 900 })).length, 900)
  assert.is(await c.call('echo', 'small'), 'small')
  await c.close()
  await stop(f)
})

test('auth failure: a clear error, the connection closes, the server logs no token', async () => {
  const f = await start()
  const e = await errorOf(connectApi({ socketPath: f.socketPath, token: 'wrong' }))
  assert.is(e.code, 'unauthenticated')
  assert.match(e.message, /invalid token/)
  await waitFor(() => f.server.connections() === 0, { what: 'the refused connection to close', timeout: 3000 })
  assert.ok(f.events.some(ev => ev.event === 'auth_failed'))
  assert.not.match(JSON.stringify(f.events), /wrong|secret-token/)
  // A token that is a prefix of the right one, or longer, fails too.
  assert.is((await errorOf(connectApi({ socketPath: f.socketPath, token: TOKEN.slice(0, -1) }))).code, 'unauthenticated')
  assert.is((await errorOf(connectApi({ socketPath: f.socketPath, token: TOKEN + 'x' }))).code, 'unauthenticated')
  await stop(f)
})

test('token as a function is asked at every handshake; an empty token admits nobody', async () => {
  let current = 'one'
  const f = await start({ token: () => current })
  const a = await connectApi({ socketPath: f.socketPath, token: 'one' })
  current = 'two'
  assert.is((await errorOf(connectApi({ socketPath: f.socketPath, token: 'one' }))).code, 'unauthenticated')
  const b = await connectApi({ socketPath: f.socketPath, token: 'two' })
  current = ''
  assert.is((await errorOf(connectApi({ socketPath: f.socketPath, token: '' }))).code, 'unauthenticated')
  // Connections made before the rotation keep working.
  assert.is(await a.call('echo', 1), 1)
  await a.close()
  await b.close()
  await stop(f)
})

test('before its token is accepted a caller gets 64 KiB a frame, never 16 MiB; after, the full limit', async () => {
  const f = await start()
  assert.is(PRE_AUTH_MAX_FRAME_BYTES, 64 * 1024)
  // A stranger declaring a 16 MiB frame is refused at its header: none of the body is read.
  let r = raw(f.socketPath)
  await new Promise(resolve => r.socket.once('connect', resolve))
  r.socket.write(header(MAX_FRAME_BYTES))
  let frames = await r.closed
  assert.equal(frames, [{ type: 'error', error: { code: 'frame_too_large', message: `frame declares ${MAX_FRAME_BYTES} bytes, over the limit of ${PRE_AUTH_MAX_FRAME_BYTES}` } }])
  // An auth frame over the small limit likewise.
  r = raw(f.socketPath)
  await new Promise(resolve => r.socket.once('connect', resolve))
  r.socket.write(authFrame('t'.repeat(PRE_AUTH_MAX_FRAME_BYTES)))
  frames = await r.closed
  assert.is((frames.at(-1) as { error: { code: string } }).error.code, 'frame_too_large')
  assert.ok(f.events.some(e => e.event === 'protocol_error' && e.code === 'frame_too_large'))
  // Once the token is accepted, a 1 MiB request in the same write as the auth frame is served.
  r = raw(f.socketPath)
  await new Promise(resolve => r.socket.once('connect', resolve))
  const payload = 'y'.repeat(1024 * 1024)
  r.socket.write(Buffer.concat([authFrame(), encodeFrame({ type: 'req', id: 1, method: 'echo', params: payload })]))
  await waitFor(() => r.frames.length === 2, { what: 'the answer' })
  assert.equal(r.frames[1], { type: 'res', id: 1, result: payload })
  r.socket.end()
  await r.closed
  await stop(f)
})

test('no authentication in time closes the connection', async () => {
  const f = await start({ authTimeoutMs: 100 })
  const r = raw(f.socketPath)
  const frames = await r.closed
  assert.equal(frames, [{ type: 'error', error: { code: 'unauthenticated', message: 'no authentication within 100 ms' } }])
  await stop(f)
})

test('unavailable: no socket file, or a stale one nobody listens on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dapi-'))
  const missing = join(dir, 'api.sock')
  let e = await errorOf(connectApi({ socketPath: missing, token: TOKEN }))
  assert.is(e.code, 'unavailable')
  assert.ok(e.message.includes(missing))
  const stale = join(dir, 'stale.sock')
  await staleSocket(stale)
  e = await errorOf(connectApi({ socketPath: stale, token: TOKEN }))
  assert.is(e.code, 'unavailable')
  assert.ok(e.message.includes(stale))
  await rm(dir, { recursive: true, force: true })
})

test('a client gives up on a daemon that never answers the handshake', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dapi-'))
  const socketPath = join(dir, 'mute.sock')
  const accepted: net.Socket[] = []
  const mute = net.createServer(s => accepted.push(s))
  await new Promise<void>(resolve => mute.listen(socketPath, resolve))
  const e = await errorOf(connectApi({ socketPath, token: TOKEN, timeoutMs: 100 }))
  assert.is(e.code, 'timeout')
  assert.ok(e.message.includes(socketPath))
  await new Promise(resolve => { mute.close(resolve); for (const s of accepted) s.destroy() })
  await rm(dir, { recursive: true, force: true })
})

/** A socket file left behind by a process killed while it listened. */
async function staleSocket (path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
  await new Promise(resolve => child.on('exit', resolve))
  assert.ok((await stat(path)).isSocket())
}

test('start-up: a stale socket is replaced, a live daemon is not, nor is a non-socket file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dapi-'))
  const socketPath = join(dir, 'api.sock')
  await staleSocket(socketPath)
  const server = await createApiServer({ socketPath, token: TOKEN, handlers: { echo: async p => p } })
  const c = await connectApi({ socketPath, token: TOKEN })
  assert.is(await c.call('echo', 'ok'), 'ok')
  try {
    await createApiServer({ socketPath, token: TOKEN, handlers: {} })
    assert.unreachable('a second server started')
  } catch (err) {
    assert.is((err as Error).message, `another dstackd is already serving ${socketPath}`)
  }
  // The first server is unharmed.
  assert.is(await c.call('echo', 'still'), 'still')
  await c.close()
  await server.close()
  const file = join(dir, 'file.sock')
  await writeFile(file, 'not a socket')
  try {
    await createApiServer({ socketPath: file, token: TOKEN, handlers: {} })
    assert.unreachable('started over a regular file')
  } catch (err) {
    assert.match((err as Error).message, /not a socket/)
  }
  await rm(dir, { recursive: true, force: true })
})

test('a closed connection rejects every pending call: server side and client side', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const pending = [c.call('hang'), c.call('hang'), c.call('sleep', { ms: 10_000 })].map(errorOf)
  await sleep(20)
  await f.server.close()
  for (const p of pending) assert.is((await p).code, 'connection_closed')
  assert.ok(f.state.lastSignal?.aborted, 'handlers see the abort')
  assert.is((await errorOf(c.call('echo', 1))).code, 'connection_closed')

  const g = await start()
  const d = await connectApi({ socketPath: g.socketPath, token: TOKEN })
  const hanging = errorOf(d.call('hang'))
  await sleep(20)
  await d.close()
  assert.is((await hanging).code, 'connection_closed')
  await waitFor(() => g.state.lastSignal?.aborted === true, { what: 'the handler to be aborted', timeout: 3000 })
  await stop(g)
  await rm(f.dir, { recursive: true, force: true })
})

test('a call cancelled by its signal rejects and aborts the handler', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const ac = new AbortController()
  const p = c.call('hang', undefined, { signal: ac.signal })
  await waitFor(() => f.state.lastSignal !== undefined, { what: 'the handler to start', timeout: 3000 })
  ac.abort()
  assert.is((await errorOf(p)).code, 'cancelled')
  await waitFor(() => f.state.lastSignal?.aborted === true, { what: 'the handler signal', timeout: 3000 })
  assert.is(await c.call('echo', 'after'), 'after')
  await c.close()
  await stop(f)
})

// ---------------------------------------------------------------------------------------------
// Streams

test('streams: items then end; an async handler may resolve to a stream', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const got: number[] = []
  for await (const n of c.stream('count', { n: 5 })) got.push(n)
  assert.equal(got, [0, 1, 2, 3, 4])
  const later: number[] = []
  for await (const n of c.stream('countLater', { n: 3 })) later.push(n)
  assert.equal(later, [0, 1, 2])
  const none: number[] = []
  for await (const n of c.stream('count', { n: 0 })) none.push(n)
  assert.equal(none, [])
  // Several streams and calls interleaved on one connection.
  const all = await Promise.all([collect(c.stream('count', { n: 50 })), collect(c.stream('count', { n: 60 })), c.call('add', { a: 1, b: 2 })])
  assert.is((all[0] as unknown[]).length, 50)
  assert.is((all[1] as unknown[]).length, 60)
  assert.is(all[2], 3)
  await c.close()
  await stop(f)
})

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

test('streams: an error after some items arrives with its code', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const got: number[] = []
  try {
    for await (const n of c.stream('failAfter', { n: 3 })) got.push(n)
    assert.unreachable('no error')
  } catch (err) {
    assert.instance(err, ApiError)
    assert.is((err as ApiError).code, 'log_gone')
  }
  assert.equal(got, [0, 1, 2])
  assert.is((await errorOf(collect(c.stream('nope')))).code, 'unknown_method')
  await c.close()
  await stop(f)
})

test('streams: breaking out of for-await cancels on the server; the connection goes on', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  for (let round = 1; round <= 3; round++) {
    const got: number[] = []
    for await (const n of c.stream('forever')) {
      got.push(n)
      if (got.length === 3) break
    }
    assert.equal(got, [0, 1, 2])
    await waitFor(() => f.state.streamClosed === round, { what: 'the generator to finish', timeout: 3000 })
    assert.ok(f.state.lastSignal?.aborted)
  }
  assert.is(await c.call('echo', 'fine'), 'fine')
  await c.close()
  await stop(f)
})

test('streams: aborting the signal ends iteration with cancelled', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const ac = new AbortController()
  let n = 0
  try {
    for await (const _ of c.stream('forever', undefined, { signal: ac.signal })) {
      if (++n === 5) ac.abort()
    }
    assert.unreachable('no error')
  } catch (err) {
    assert.is((err as ApiError).code, 'cancelled')
  }
  await waitFor(() => f.state.streamClosed === 1, { what: 'the generator to finish', timeout: 3000 })
  await c.close()
  await stop(f)
})

test('streams: a slow reader holds back a fast producer (back-pressure)', async () => {
  const f = await start()
  const c = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  let consumed = 0
  for await (const _ of c.stream('flood')) {
    consumed++
    if (consumed % 100 === 0) await sleep(20)
    if (consumed === 500) break
  }
  // Each item is ~1 KiB: the producer may run ahead by what the socket buffers, not by 100 MB.
  assert.ok(f.state.produced < consumed + 10_000, `produced ${f.state.produced} for ${consumed} consumed`)
  assert.is(await c.call('echo', 'after flood'), 'after flood')
  await c.close()
  await stop(f)
})

// ---------------------------------------------------------------------------------------------
// Robustness: a bad connection is closed on its own, every other client keeps working

interface Row { name: string, send: (s: net.Socket) => void, expect?: RegExp }

const rows: Row[] = [
  { name: 'garbage bytes', send: s => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), expect: /frame_too_large/ },
  { name: 'small garbage', send: s => s.write(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5])), expect: /bad_frame/ },
  { name: '4 GB declared length', send: s => s.write(header(0xffffffff)), expect: /frame_too_large.*4294967295/ },
  { name: 'truncated frame then close', send: s => { s.write(Buffer.concat([header(100), Buffer.from('{"type":"auth"')])); s.end() } },
  { name: 'invalid JSON', send: s => s.write(Buffer.concat([header(8), Buffer.from('{"type":')])), expect: /bad_frame.*not valid JSON/ },
  { name: 'invalid UTF-8', send: s => s.write(Buffer.concat([header(3), Buffer.from([0xc3, 0x28, 0xff])])), expect: /UTF-8/ },
  { name: 'JSON that is not an object', send: s => s.write(Buffer.concat([header(5), Buffer.from('[1,2]')])), expect: /bad_frame.*array/ },
  { name: 'an object of no known frame type', send: s => s.write(encodeFrame({ hello: 'world' })), expect: /bad_frame/ },
  { name: 'a request before auth', send: s => s.write(encodeFrame({ type: 'req', id: 1, method: 'echo', params: 1 })), expect: /unauthenticated.*before authentication/ },
  { name: 'a bad request after auth', send: s => s.write(Buffer.concat([authFrame(), encodeFrame({ type: 'req', id: 'one', method: 'echo' })])), expect: /bad_frame/ },
  { name: 'a second auth', send: s => s.write(Buffer.concat([authFrame(), authFrame()])), expect: /already authenticated/ },
  {
    name: 'a duplicate id in flight',
    send: s => s.write(Buffer.concat([authFrame(), encodeFrame({ type: 'req', id: 7, method: 'hang' }), encodeFrame({ type: 'req', id: 7, method: 'hang' })])),
    expect: /already in flight/
  }
]

for (const row of rows) {
  test(`robustness: ${row.name} closes only that connection`, async () => {
    const f = await start()
    const witness = await connectApi({ socketPath: f.socketPath, token: TOKEN })
    const streaming = witness.stream('forever')[Symbol.asyncIterator]()
    assert.equal(await streaming.next(), { value: 0, done: false })
    const bad = raw(f.socketPath)
    await new Promise(resolve => bad.socket.once('connect', resolve))
    row.send(bad.socket)
    const frames = await bad.closed
    if (row.expect) {
      const last = JSON.stringify(frames.at(-1))
      assert.match(last, row.expect)
      assert.is((frames.at(-1) as { type: string }).type, 'error')
    }
    assert.is(await witness.call('echo', row.name), row.name)
    assert.equal(await streaming.next(), { value: 1, done: false })
    await waitFor(() => f.server.connections() === 1, { what: 'only the witness to remain', timeout: 3000 })
    assert.ok(f.events.some(e => e.event === 'protocol_error'), 'logged')
    await streaming.return!()
    await witness.close()
    await stop(f)
  })
}

test('robustness: a huge but legal frame split into 1-byte writes is served', async () => {
  const max = 2 * 1024 * 1024
  const f = await start()
  const witness = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const payload = 'q'.repeat(max - 100)
  const frame = encodeFrame({ type: 'req', id: 1, method: 'echo', params: payload }, max)
  assert.ok(frame.length > max - 64)
  const r = raw(f.socketPath)
  await new Promise(resolve => r.socket.once('connect', resolve))
  r.socket.setNoDelay?.(true)
  r.socket.write(authFrame())
  // The header and the first bytes one per write with a yield between, so the server really
  // sees them apart; the rest one byte per write, corked in batches to keep the test quick.
  for (let i = 0; i < 64; i++) {
    r.socket.write(frame.subarray(i, i + 1))
    await new Promise(resolve => setImmediate(resolve))
  }
  for (let i = 64; i < frame.length; i += 65536) {
    r.socket.cork()
    for (let j = i; j < Math.min(frame.length, i + 65536); j++) r.socket.write(frame.subarray(j, j + 1))
    r.socket.uncork()
    assert.is(await witness.call('echo', i), i)
  }
  await waitFor(() => r.frames.length === 2, { what: 'the answer', timeout: 10_000 })
  assert.equal(r.frames[0], { type: 'auth', ok: true, server: { name: 'test-node', version: '0.0.0', protocol: 2 } })
  assert.equal(r.frames[1], { type: 'res', id: 1, result: payload })
  r.socket.end()
  await r.closed
  assert.is(await witness.call('echo', 'ok'), 'ok')
  await witness.close()
  await stop(f)
})

// ---------------------------------------------------------------------------------------------
// Fuzz

function randomBytes (rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256)
  return b
}

function randomJson (rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * (depth > 2 ? 5 : 7))
  switch (pick) {
    case 0: return null
    case 1: return rand() < 0.5
    case 2: return [0, -1, 1.5, 2 ** 53, 7, 1e308][Math.floor(rand() * 6)]
    case 3: return ['', 'req', 'auth', 'cancel', 'res', 'echo', 'hang', 'forever', 'count', TOKEN, 'ü\u0000'][Math.floor(rand() * 11)]
    case 4: return undefined
    case 5: return Array.from({ length: Math.floor(rand() * 3) }, () => randomJson(rand, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (const k of ['type', 'id', 'method', 'params', 'token', 'x']) if (rand() < 0.6) o[k] = randomJson(rand, depth + 1)
      return o
    }
  }
}

test('fuzz: 400 random byte strings and random frames on fresh connections never hurt the server', async () => {
  const f = await start()
  const witness = await connectApi({ socketPath: f.socketPath, token: TOKEN })
  const rand = seededRandom(20240611)
  const inputs: Buffer[] = []
  for (let i = 0; i < 400; i++) {
    const kind = i % 4
    let bytes: Buffer
    if (kind === 0) {
      bytes = randomBytes(rand, Math.floor(rand() * 64))
    } else if (kind === 1) {
      // A plausible small length, then random bytes: reaches the UTF-8 and JSON checks.
      const body = randomBytes(rand, Math.floor(rand() * 40))
      bytes = Buffer.concat([header(rand() < 0.8 ? body.length : Math.floor(rand() * 200)), body])
    } else {
      // Random JSON frames, half of them after a valid handshake: reaches the frame checks and handlers.
      const frames = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
        const v = randomJson(rand)
        try { return encodeFrame(v === undefined ? null : v) } catch { return encodeFrame(null) }
      })
      bytes = Buffer.concat(kind === 2 ? [authFrame(), ...frames] : frames)
    }
    inputs.push(bytes)
  }
  const concurrency = 20
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < inputs.length) {
      const bytes = inputs[next++]!
      const r = raw(f.socketPath)
      await new Promise(resolve => r.socket.once('connect', resolve))
      r.socket.end(bytes)
      await r.closed
    }
  }))
  assert.is(await witness.call('echo', 'alive'), 'alive')
  await waitFor(() => f.server.connections() === 1, { what: 'every fuzz connection to close', timeout: 3000 })
  assert.ok(f.events.filter(e => e.event === 'protocol_error').length > 100)
  await witness.close()
  await stop(f)
})

test.run()
