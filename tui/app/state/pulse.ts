// The pulse of each host: a rolling history of how busy its GPUs are, kept by the client from
// the live data (fleets.watch), sampled at a steady pace so the line reads as time. Where a
// host reports GPU utilization, that; elsewhere the share of its GPUs (or, without GPUs, its
// CPUs) that jobs hold.
import type { HostView } from '../../../daemon/api/views.ts'

/** Samples kept per host. */
export const PULSE_SAMPLES = 120

export interface Sample { value: number, kind: 'utilization' | 'allocation' }

/** How busy a host is now, 0..100, and what that measures. */
export function busyness (h: HostView): Sample {
  const u = h.gpu_utilization
  if (u !== null && u.length > 0) return { value: u.reduce((a, b) => a + b, 0) / u.length, kind: 'utilization' }
  const o = h.instance.offer
  if (o.gpus.length > 0) {
    const held = new Set(h.jobs.flatMap(j => j.gpus))
    return { value: (100 * held.size) / o.gpus.length, kind: 'allocation' }
  }
  const cpus = h.jobs.reduce((n, j) => n + j.cpus, 0)
  return { value: o.cpus > 0 ? Math.min(100, (100 * cpus) / o.cpus) : 0, kind: 'allocation' }
}

/** The histories with one more sample per host (hosts gone are dropped). */
export function addSamples (history: ReadonlyMap<string, number[]>, hosts: readonly HostView[], keep = PULSE_SAMPLES): Map<string, number[]> {
  const next = new Map<string, number[]>()
  for (const h of hosts) {
    const past = history.get(h.instance.id) ?? []
    next.set(h.instance.id, [...past.slice(Math.max(0, past.length - keep + 1)), busyness(h).value])
  }
  return next
}

const BARS = '▁▂▃▄▅▆▇█'

/** The last `width` samples as a sparkline (0 → ▁, 100 → █), padded on the left with spaces. */
export function sparkline (samples: readonly number[], width: number): string {
  if (width <= 0) return ''
  const shown = samples.slice(Math.max(0, samples.length - width))
  const line = shown.map(v => BARS[Math.max(0, Math.min(BARS.length - 1, Math.round((v / 100) * (BARS.length - 1))))]).join('')
  return line.padStart(width)
}

/** `[██████░░░░] 60%` in `width` characters (the brackets and the number included). */
export function bar (percent: number, width: number): string {
  const p = Math.max(0, Math.min(100, percent))
  const label = `${Math.round(p)}%`.padStart(4)
  const inner = Math.max(1, width - 3 - label.length)
  const full = Math.round((p / 100) * inner)
  return `[${'█'.repeat(full)}${'░'.repeat(inner - full)}] ${label}`
}
