// A small seeded PRNG (mulberry32), so that a node's election timeouts, or a whole simulated
// cluster, can be replayed from one number.

/** Uniform in [0, 1), determined by `seed`. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
