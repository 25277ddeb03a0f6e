// Benchmark: the frame decoder (mesh/frames.ts, under both the socket API and mesh RPC) fed a
// large frame one byte at a time, the worst case a slow or hostile peer can make. Linear
// means doubling the frame doubles the time; a decoder that re-copies its buffer per chunk
// would quadruple it. Target: 4 MiB in well under 10 s, and the 4 MiB / 2 MiB ratio near 2.
//   node --import tsx scripts/bench/frames.ts
import { performance } from 'node:perf_hooks'
import { FrameDecoder, encodeFrame } from '../../mesh/frames.ts'

function byteAtATime (size: number): number {
  const value = { s: 'q'.repeat(size) }
  const frame = encodeFrame(value, 2 * size + 1024)
  const d = new FrameDecoder({ maxFrameBytes: 2 * size + 1024 })
  const started = performance.now()
  let frames = 0
  for (let i = 0; i < frame.length; i++) frames += d.push(frame.subarray(i, i + 1)).length
  const ms = performance.now() - started
  if (frames !== 1) throw new Error(`decoded ${frames} frames, expected 1`)
  return ms
}

byteAtATime(256 * 1024) // warm-up
const half = byteAtATime(2 * 1024 * 1024)
const full = byteAtATime(4 * 1024 * 1024)
console.log(`frame decoder, one byte at a time: 2 MiB ${half.toFixed(0)} ms, 4 MiB ${full.toFixed(0)} ms (ratio ${(full / half).toFixed(2)}; linear ≈ 2, quadratic ≈ 4)`)
