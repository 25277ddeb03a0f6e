// The frame codec under every RPC session and Raft's channels (mesh/frames.ts), on its own.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FRAME_HEADER_BYTES, FrameDecoder, ProtocolError, encodeFrame } from '../../mesh/frames.ts'

const MAX = 1024

function frameOf (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
const isError = (code: string, message: RegExp) => (e: unknown): boolean =>
  e instanceof ProtocolError && e.code === code && message.test(e.message)

test('round trip: header is the big-endian body length; the body is the UTF-8 JSON', () => {
  const values = [{}, { a: 1 }, { s: 'héllo wörld ✓ 𝄞' }, { nested: { list: [1, null, true, 'x'] } }, { big: 'y'.repeat(MAX - 10) }]
  for (const value of values) {
    const frame = encodeFrame(value, MAX)
    assert.ok(frame instanceof Uint8Array)
    const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0)
    assert.is(length, frame.length - FRAME_HEADER_BYTES)
    assert.is(new TextDecoder().decode(frame.subarray(FRAME_HEADER_BYTES)), JSON.stringify(value))
    const d = new FrameDecoder({ maxFrameBytes: MAX })
    assert.equal(d.push(frame), [value])
    assert.ok(d.idle)
    assert.is(d.buffered, 0)
  }
})

test('encodeFrame: over the limit is frame_too_large; not-JSON values are a TypeError', () => {
  assert.throws(() => encodeFrame({ s: 'x'.repeat(MAX) }, MAX), isError('frame_too_large', new RegExp(`over the limit of ${MAX}`)))
  // The limit counts UTF-8 bytes, not characters.
  const s = 'é'.repeat(300) // 600 bytes of UTF-8, 300 characters
  assert.throws(() => encodeFrame({ s }, 400), isError('frame_too_large', /608 bytes/))
  assert.is(encodeFrame({ s }, 608).length, FRAME_HEADER_BYTES + 608)
  for (const bad of [undefined, { n: 1n }, (() => { const o: any = {}; o.self = o; return o })()]) {
    assert.throws(() => encodeFrame(bad, MAX), (e: unknown) => e instanceof TypeError)
  }
})

test('every chunk boundary and chunk size gives the same frames, from Uint8Array or Buffer', () => {
  const values = [{ t: 'a', n: 1 }, {}, { t: 'b', s: 'héllo wörld 𝄞' }, { t: 'c', list: [1, 2, 3] }]
  const bytes = concat(values.map(v => encodeFrame(v, MAX)))
  for (let size = 1; size <= bytes.length; size++) {
    for (let cut = 0; cut < size; cut++) {
      for (const wrap of [(b: Uint8Array) => b, (b: Uint8Array) => Buffer.from(b)]) {
        const d = new FrameDecoder({ maxFrameBytes: MAX })
        const out: unknown[] = []
        if (cut > 0) out.push(...d.push(wrap(bytes.subarray(0, cut))))
        for (let i = cut; i < bytes.length; i += size) out.push(...d.push(wrap(bytes.subarray(i, i + size))))
        assert.equal(out, values, `size ${size}, first cut ${cut}`)
        assert.ok(d.idle)
        d.finish()
      }
    }
  }
})

test('feed hands over each frame with its wire size, and the frames before a bad one', () => {
  const good = [encodeFrame({ a: 1 }, MAX), encodeFrame({ b: 'two' }, MAX)]
  const d = new FrameDecoder({ maxFrameBytes: MAX })
  const seen: Array<[unknown, number]> = []
  assert.throws(() => d.feed(concat([...good, frameOf(text('nope'))]), (v, n) => seen.push([v, n])), isError('bad_frame', /not JSON/))
  assert.equal(seen, [[{ a: 1 }, good[0]!.length], [{ b: 'two' }, good[1]!.length]])
})

test('a declared length over the limit fails at the header, before any body; the decoder is spent', () => {
  for (const declared of [MAX + 1, 0xffffffff]) {
    const d = new FrameDecoder({ maxFrameBytes: MAX })
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, declared)
    // The first three bytes are not yet a header.
    assert.equal(d.push(header.subarray(0, 3)), [])
    assert.throws(() => d.push(header.subarray(3)), isError('frame_too_large', new RegExp(`declares ${declared} bytes, over the limit of ${MAX}`)))
    assert.is(d.buffered, 0)
    assert.throws(() => d.push(encodeFrame({ ok: true }, MAX)), isError('frame_too_large', /declares/))
    assert.throws(() => d.finish(), isError('frame_too_large', /declares/))
  }
  // exactly the limit is fine
  const body = text(JSON.stringify({ s: 'z'.repeat(MAX - 8) }))
  assert.is(body.length, MAX)
  assert.equal(new FrameDecoder({ maxFrameBytes: MAX }).push(frameOf(body)), [{ s: 'z'.repeat(MAX - 8) }])
})

test('memory follows what arrived, not what a header declares', () => {
  const d = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 })
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, 16 * 1024 * 1024)
  d.push(concat([header, text('{"a":')]))
  assert.is(d.buffered, 5)
  assert.not.ok(d.idle)
})

test('truncated: finish() inside a header or a body is bad_frame; at a boundary it is fine', () => {
  const frame = encodeFrame({ a: 'bc' }, MAX)
  for (let cut = 1; cut < frame.length; cut++) {
    const d = new FrameDecoder({ maxFrameBytes: MAX })
    assert.equal(d.push(frame.subarray(0, cut)), [])
    assert.not.ok(d.idle)
    assert.throws(() => d.finish(), isError('bad_frame', new RegExp(`ended inside a frame \\(${cut} bytes`)))
  }
  const d = new FrameDecoder({ maxFrameBytes: MAX })
  d.finish()
  d.push(concat([frame, frame]))
  d.finish()
})

test('bad UTF-8, not JSON, and JSON that is not an object are bad_frame', () => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), /not valid UTF-8/],
    [new Uint8Array([0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/], // a cut-off 2-byte sequence
    [new Uint8Array([0xed, 0xa0, 0x80]), /not valid UTF-8/], // a lone surrogate
    [text('{"type":'), /not JSON.*not valid JSON/],
    [text('{"body": nope'), /not JSON/],
    [new Uint8Array(0), /not JSON/],
    [text('[1,2]'), /JSON object, not an array/],
    [text('42'), /not a number/],
    [text('null'), /not null/],
    [text('"str"'), /not a string/],
    [text('true'), /not a boolean/]
  ]
  for (const [body, message] of cases) {
    const d = new FrameDecoder({ maxFrameBytes: MAX })
    assert.throws(() => d.push(frameOf(body)), isError('bad_frame', message), message.source)
    assert.throws(() => d.push(encodeFrame({ ok: true }, MAX)), isError('bad_frame', message))
  }
})

test('a limit raised while frames are handed out applies from the next header (auth then a big request, one chunk)', () => {
  const d = new FrameDecoder({ maxFrameBytes: 64 })
  const big = { s: 'b'.repeat(200) }
  const out: unknown[] = []
  d.feed(concat([encodeFrame({ type: 'auth' }, 64), encodeFrame(big, MAX)]), value => {
    out.push(value)
    d.maxFrameBytes = MAX
  })
  assert.equal(out, [{ type: 'auth' }, big])
  const strict = new FrameDecoder({ maxFrameBytes: 64 })
  assert.throws(() => strict.push(encodeFrame(big, MAX)), isError('frame_too_large', /over the limit of 64/))
})

// How long a large frame takes this way (linear, not quadratic): scripts/bench/frames.ts.
test('a frame fed one byte at a time comes out whole, once', () => {
  const value = { s: 'q'.repeat(64 * 1024) }
  const frame = encodeFrame(value, 1024 * 1024)
  const d = new FrameDecoder({ maxFrameBytes: 1024 * 1024 })
  const out: unknown[] = []
  for (let i = 0; i < frame.length; i++) out.push(...d.push(frame.subarray(i, i + 1)))
  assert.equal(out, [value])
})

test.run()
