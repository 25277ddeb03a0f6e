// The RPC engine behaves the same on every transport: a table of behaviours run over the Unix
// socket (with its token) and over a libp2p stream between two real mesh nodes (no token: the
// private network admitted the peer), serving the real method table's params checks.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectApi } from '../../../daemon/api/client.ts'
import { bindMethods, type Implementations } from '../../../daemon/api/methods.ts'
import { createApiServer } from '../../../daemon/api/server.ts'
import { FrameDecoder, MAX_FRAME_BYTES, encodeFrame } from '../../../mesh/frames.ts'
import type { RpcClient } from '../../../mesh/rpc/client.ts'
import { parseServerFrame, RpcError } from '../../../mesh/rpc/protocol.ts'
import type { HandlerContext } from '../../../mesh/rpc/server.ts'
import { seededRandom } from '../../../mesh/raft/random.ts'

const { createMesh } = await import('../../../mesh/index.ts')
const { FrameReader } = await import('../../../mesh/rpc/libp2p.ts')

const TOKEN = 'transports-token'
const PROTOCOL = '/test/api/1.0.0'

/** What the handlers saw, for the cancellation rows. */
const seen = { streamsClosed: 0, lastSignal: undefined as AbortSignal | undefined }

// A few of the table's methods, implemented for the test; params arrive checked by the table.
const implementations = {
  async 'runs.get' (p: { name: string }) { return { name: p.name } },
  'runs.watch' (p: { name?: string } | null | undefined, ctx: HandlerContext) {
    seen.lastSignal = ctx.signal
    return (async function * () {
      try {
        for (let i = 0; p?.name !== 'five' || i < 5; i++) {
          yield { runs: [], index: i }
          await sleep(1)
        }
      } finally {
        seen.streamsClosed++
      }
    })()
  },
  async 'runs.stop' (p: { names: string[] }) { return { stopped: p.names, abort: false } },
  async 'runs.submit' () { return { action: 'submitted' } },
  logs () { return (async function * () {})() }
} as unknown as Implementations<'client' | 'admin'>
const handlers = bindMethods(['client', 'admin'], implementations)

interface Side {
  name: string
  client: () => Promise<RpcClient>
  /** Sends bytes on a fresh session (after the handshake where there is one), then ends it; gives every frame the server sent back. */
  raw: (bytes: Uint8Array) => Promise<unknown[]>
  sessions: () => number
  close: () => Promise<void>
}

async function unixSide (): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'rpc-unix-'))
  const socketPath = join(dir, 'api.sock')
  const server = await createApiServer({ socketPath, token: TOKEN, handlers })
  return {
    name: 'unix socket',
    client: async () => await connectApi({ socketPath, token: TOKEN }) as unknown as RpcClient,
    raw: async bytes => await new Promise(resolve => {
      const socket = net.connect(socketPath)
      const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES })
      const frames: unknown[] = []
      socket.on('data', chunk => { try { frames.push(...decoder.push(chunk)) } catch { frames.push('undecodable') } })
      socket.on('error', () => {})
      socket.on('close', () => resolve(frames.slice(1)))
      socket.once('connect', () => { socket.write(encodeFrame({ type: 'auth', token: TOKEN }, MAX_FRAME_BYTES)); socket.end(bytes) })
    }),
    sessions: () => server.connections(),
    close: async () => { await server.close(); rmSync(dir, { recursive: true, force: true }) }
  }
}

async function libp2pSide (): Promise<Side> {
  const dirs = [mkdtempSync(join(tmpdir(), 'rpc-p2p-')), mkdtempSync(join(tmpdir(), 'rpc-p2p-'))]
  const opts = { listen: ['/ip4/127.0.0.1/tcp/0'], dialTimeoutMs: 2000 }
  const a = await createMesh({ dataDir: dirs[0]!, ...opts })
  const b = await createMesh({ dataDir: dirs[1]!, join: a.joinToken(), ...opts })
  await b.waitForPeers(1)
  await a.serve(PROTOCOL, handlers)
  const streams = (): number => a.libp2p.getConnections(b.libp2p.peerId).flatMap(c => c.streams).filter(s => s.protocol === PROTOCOL).length
  return {
    name: 'libp2p stream',
    client: async () => await b.dial(a.peerId, PROTOCOL),
    raw: async bytes => {
      const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, PROTOCOL, { signal: AbortSignal.timeout(3000) })
      const reader = new FrameReader(stream, MAX_FRAME_BYTES)
      const frames: unknown[] = []
      try {
        stream.send(bytes)
        await stream.close()
        for (;;) {
          const frame = await reader.next(AbortSignal.timeout(5000))
          if (frame === null) break
          frames.push(frame)
        }
      } catch { /* reset by the server after its error frame */ } finally {
        reader.dispose()
        stream.abort(new Error('done'))
      }
      return frames
    },
    // Streams this side serves; a client keeps one open.
    sessions: streams,
    close: async () => {
      await b.stop()
      await a.stop()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    }
  }
}

async function errorOf (p: Promise<unknown>): Promise<RpcError> {
  try { await p } catch (err) { assert.instance(err, RpcError); return err as RpcError }
  throw new Error('expected a rejection')
}

async function until (check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

const header = (n: number): Buffer => { const h = Buffer.alloc(4); h.writeUInt32BE(n >>> 0); return h }
const frame = (value: unknown): Uint8Array => encodeFrame(value, MAX_FRAME_BYTES)

/** The last frame a server sent before it closed a session, as an error. */
function lastError (frames: unknown[]): { code: string, message: string } {
  const last = frames.at(-1) as { type?: string, error?: { code: string, message: string } } | undefined
  assert.is(last?.type, 'error', JSON.stringify(frames).slice(0, 200))
  return last!.error!
}

interface Row { name: string, run: (side: Side, c: RpcClient) => Promise<void> }

const rows: Row[] = [
  {
    name: 'request/response',
    run: async (_side, c) => {
      assert.equal(await c.call('runs.get', { name: 'x' }), { name: 'x' })
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call('runs.get', { name: `r${i}` })))
      assert.equal(many.map(r => r.name), Array.from({ length: 50 }, (_, i) => `r${i}`))
    }
  },
  {
    name: 'a server stream: items in order, then the end',
    run: async (_side, c) => {
      const got: number[] = []
      for await (const item of c.stream('runs.watch', { name: 'five' })) got.push(item.index)
      assert.equal(got, [0, 1, 2, 3, 4])
    }
  },
  {
    name: 'cancellation mid-stream: leaving the loop or aborting stops the handler; the session goes on',
    run: async (_side, c) => {
      const before = seen.streamsClosed
      const got: number[] = []
      for await (const item of c.stream('runs.watch', {})) { got.push(item.index); if (got.length === 3) break }
      assert.equal(got, [0, 1, 2])
      await until(() => seen.streamsClosed === before + 1, 'the handler to stop')
      assert.ok(seen.lastSignal?.aborted)
      const ac = new AbortController()
      let n = 0
      const e = await errorOf((async () => { for await (const _ of c.stream('runs.watch', {}, { signal: ac.signal })) if (++n === 2) ac.abort() })())
      assert.is(e.code, 'cancelled')
      await until(() => seen.streamsClosed === before + 2, 'the aborted handler to stop')
      assert.equal(await c.call('runs.get', { name: 'after' }), { name: 'after' })
    }
  },
  {
    name: 'an unknown method',
    run: async (_side, c) => {
      const e = await errorOf((c as RpcClient).call('no.such.method', {}))
      assert.is(e.code, 'unknown_method')
      assert.match(e.message, /no\.such\.method/)
      // Served only on the mesh: a peer method is unknown to the client table's handlers.
      assert.is((await errorOf(c.call('peer.code', { run: 'abc' }))).code, 'unknown_method')
    }
  },
  {
    name: 'bad params: an invalid error naming the field, never a crash',
    run: async (_side, c) => {
      const cases: Array<[string, unknown, string]> = [
        ['runs.get', { name: 1 }, 'runs.get: params.name: expected a string, got 1'],
        ['runs.get', {}, 'runs.get: params.name: is required'],
        ['runs.get', 'x', 'runs.get: params: expected an object, got "x"'],
        ['runs.stop', { names: [] }, 'runs.stop: params.names: expected at least one run name, got 0'],
        ['runs.stop', { names: ['a', 2] }, 'runs.stop: params.names[1]: expected a string, got 2'],
        ['runs.submit', { configuration: {}, code: [{ path: '../etc/passwd' }] }, 'runs.submit: params.code[0].path: must stay inside the job\'s directory, got "../etc/passwd"'],
        ['runs.submit', { configuration: {}, env: { A: 1 } }, 'runs.submit: params.env.A: expected a string, got 1'],
        ['runs.apply', { configuration: {}, code: [{ path: 'a/../../x' }] }, 'runs.apply: params.code[0].path: must stay inside the job\'s directory, got "a/../../x"']
      ]
      for (const [method, params, message] of cases) {
        const e = await errorOf((c as RpcClient).call(method, params))
        assert.is(e.code, 'invalid', method)
        assert.is(e.message, message)
        assert.is(e.remote, true)
      }
      const e = await errorOf((async () => { for await (const _ of c.stream('logs', { run: 'x', replica: -1 })) {} })())
      assert.is(e.code, 'invalid')
      assert.match(e.message, /^logs: params\.replica: expected >=0, got -1$/)
      assert.equal(await c.call('runs.get', { name: 'still fine' }), { name: 'still fine' })
    }
  },
  {
    name: 'an oversized frame: refused before it is sent, and at its header when it comes anyway',
    run: async (side, c) => {
      const e = await errorOf(c.call('runs.get', { name: 'x'.repeat(MAX_FRAME_BYTES) }))
      assert.is(e.code, 'frame_too_large')
      assert.is(e.remote, false)
      const frames = await side.raw(Buffer.concat([header(MAX_FRAME_BYTES + 1), Buffer.from('{"type":')]))
      const error = lastError(frames)
      assert.is(error.code, 'frame_too_large')
      assert.match(error.message, new RegExp(`${MAX_FRAME_BYTES + 1} bytes, over the limit of ${MAX_FRAME_BYTES}`))
      assert.equal(await c.call('runs.get', { name: 'after' }), { name: 'after' })
    }
  },
  {
    name: 'garbage bytes end only their own session',
    run: async (side, c) => {
      const inputs: Array<[Uint8Array, string]> = [
        [Buffer.concat([header(8), Buffer.from('{"type":')]), 'bad_frame'],
        [Buffer.concat([header(3), Buffer.from([0xc3, 0x28, 0xff])]), 'bad_frame'],
        [frame({ hello: 'world' }), 'bad_frame'],
        [frame({ type: 'req', id: 'one', method: 'runs.get' }), 'bad_frame'],
        [Buffer.concat([frame({ type: 'req', id: 7, method: 'runs.watch' }), frame({ type: 'req', id: 7, method: 'runs.watch' })]), 'bad_frame'],
        [Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'frame_too_large']
      ]
      for (const [bytes, code] of inputs) assert.is(lastError(await side.raw(bytes)).code, code)
      assert.equal(await c.call('runs.get', { name: 'after garbage' }), { name: 'after garbage' })
    }
  },
  {
    name: 'fuzz: random frames at the engine never crash it, and every answer is a frame',
    run: async (side, c) => {
      const rand = seededRandom(7)
      const pick = <T> (xs: T[]): T => xs[Math.floor(rand() * xs.length)]!
      const value = (depth = 0): unknown => {
        switch (Math.floor(rand() * (depth > 2 ? 5 : 7))) {
          case 0: return null
          case 1: return rand() < 0.5
          case 2: return pick([0, -1, 1.5, 2 ** 53, 7, 1e308])
          case 3: return pick(['', 'x', '../up', 'runs.get', 'runs.watch', 'logs', 'runs.stop', 'ü\u0000'])
          case 4: return undefined
          case 5: return Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1))
          default: {
            const o: Record<string, unknown> = {}
            for (const k of ['name', 'names', 'run', 'replica', 'since', 'follow', 'code', 'path', 'env']) if (rand() < 0.4) o[k] = value(depth + 1)
            return o
          }
        }
      }
      for (let i = 0; i < 120; i++) {
        let bytes: Uint8Array
        if (i % 3 === 0) {
          bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 60) }, () => Math.floor(rand() * 256)))
        } else {
          const frames = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, n) => {
            const v = i % 3 === 1
              ? { type: 'req', id: n, method: pick(['runs.get', 'runs.watch', 'runs.stop', 'logs', 'runs.submit', 'nope']), params: value() }
              : { type: pick(['req', 'cancel', 'auth', 'res', 1]), id: value(), method: value(), params: value() }
            return frame(JSON.parse(JSON.stringify(v)))
          })
          bytes = Buffer.concat(frames)
        }
        for (const f of await side.raw(bytes)) if (f !== 'undecodable') parseServerFrame(f)
      }
      assert.equal(await c.call('runs.get', { name: 'alive' }), { name: 'alive' })
    }
  }
]

for (const make of [unixSide, libp2pSide]) {
  test(`every behaviour over ${make === unixSide ? 'a unix socket' : 'a libp2p stream'}`, async () => {
    const side = await make()
    const c = await side.client()
    try {
      for (const row of rows) {
        try {
          await row.run(side, c)
        } catch (err) {
          (err as Error).message = `${side.name}: ${row.name}: ${(err as Error).message}`
          throw err
        }
      }
    } finally {
      await c.close()
      await side.close()
    }
  })
}

test('a pipelined session: calls go out behind the token; a refused token fails them with the given message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rpc-pipeline-'))
  const socketPath = join(dir, 'api.sock')
  const server = await createApiServer({ socketPath, token: TOKEN, handlers })
  try {
    const ok = await connectApi({ socketPath, token: TOKEN, pipeline: true })
    assert.equal(await ok.call('runs.get', { name: 'a' }), { name: 'a' })
    await ok.close()
    const refused = await connectApi({ socketPath, token: 'wrong', pipeline: true, refused: 'that token is not this daemon\'s' })
    const [first, second] = await Promise.all([errorOf(refused.call('runs.get', { name: 'a' })), errorOf(refused.call('runs.list', null))])
    for (const e of [first, second]) {
      assert.is(e.code, 'unauthenticated')
      assert.is(e.message, 'that token is not this daemon\'s')
    }
    assert.is((await errorOf(connectApi({ socketPath, token: 'wrong' }))).code, 'unauthenticated', 'not pipelined: openSession itself fails')
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
