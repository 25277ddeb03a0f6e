// What the benchmarks that run programs share: a program's wall time, and percentiles.
import { spawn } from 'node:child_process'

/** Runs a program to its exit; resolves to its wall time (ms) and output. */
export function timed (cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number, code: number | null, out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', b => { out += b })
    child.stderr.on('data', b => { out += b })
    child.on('error', reject)
    child.on('close', code => resolve({ ms: performance.now() - t0, code, out }))
  })
}

export const pct = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]! }
export const median = (xs: number[]): number => pct(xs, 0.5)
