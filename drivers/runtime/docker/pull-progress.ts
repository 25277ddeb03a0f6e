// An image pull's progress in dstack's words (SPEC §3.3): the engine's pull stream (one JSON
// object per layer event) summed over layers into extracted/downloaded/total bytes, and shown
// as `extracted/downloaded/[≥]total` in MB, or in GB with 2 decimals once the total reaches
// 1 GiB. `≥` marks a total that is still growing: some layer's size is not known yet. Pure:
// the engine part is pull.ts.

/** One object of the engine's pull stream (`POST /images/create`); every field may be missing. */
export interface PullEvent {
  /** The layer id for layer events; a tag or nothing for the others. */
  id?: string
  status?: string
  progressDetail?: { current?: number, total?: number, units?: string }
  error?: string
  errorDetail?: { message?: string }
}

export interface PullProgress {
  extractedBytes: number
  downloadedBytes: number
  totalBytes: number
  /** False while some layer has not said its size yet (the total is a lower bound). */
  totalFinal: boolean
}

interface Layer { status: string, downloaded: number, extracted: number, total: number }

export interface PullTracker {
  /** Takes one event of the stream; events that are not about a layer are ignored. */
  update (event: PullEvent): void
  /** null until some layer was heard of. */
  progress (): PullProgress | null
}

const bytes = (d: PullEvent['progressDetail']) => d !== undefined && (d.units === undefined || d.units === '' || d.units === 'bytes')
const count = (n: number | undefined) => typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0

/** Sums the layers of one pull, as dstack's shim does (runner/internal/shim/docker.go). */
export function pullTracker (): PullTracker {
  const layers = new Map<string, Layer>()
  return {
    update (e) {
      if (!e.id) return
      const layer = layers.get(e.id) ?? { status: '', downloaded: 0, extracted: 0, total: 0 }
      const d = e.progressDetail
      switch (e.status) {
        case 'Pulling fs layer': case 'Waiting': case 'Verifying Checksum': case 'Already exists':
          break
        case 'Downloading':
          if (bytes(d)) { layer.downloaded = count(d!.current); layer.total = count(d!.total) }
          break
        case 'Download complete':
          layer.downloaded = layer.total
          break
        case 'Extracting':
          if (bytes(d)) { layer.extracted = count(d!.current); layer.downloaded = count(d!.total); layer.total = count(d!.total) }
          break
        case 'Pull complete':
          layer.extracted = layer.total
          layer.downloaded = layer.total
          break
        default:
          // "Pulling from library/python", "Digest: …", "Status: …": not a layer.
          return
      }
      layer.status = e.status
      layers.set(e.id, layer)
    },
    progress () {
      if (layers.size === 0) return null
      const p: PullProgress = { extractedBytes: 0, downloadedBytes: 0, totalBytes: 0, totalFinal: true }
      for (const l of layers.values()) {
        if (l.total === 0 && l.status !== 'Already exists' && l.status !== 'Pull complete') p.totalFinal = false
        p.extractedBytes += l.extracted
        p.downloadedBytes += l.downloaded
        p.totalBytes += l.total
      }
      return p
    }
  }
}

const GIB = 2 ** 30
const MIB = 2 ** 20

/** `12/30/45MB`, `0.50/1.20/≥2.00GB` (SPEC §3.3). */
export function formatPullProgress (p: PullProgress): string {
  const gb = p.totalBytes >= GIB
  const f = gb ? (n: number) => (n / GIB).toFixed(2) : (n: number) => (n / MIB).toFixed(0)
  return `${f(p.extractedBytes)}/${f(p.downloadedBytes)}/${p.totalFinal ? '' : '≥'}${f(p.totalBytes)}${gb ? 'GB' : 'MB'}`
}

/** Updates no closer together than this: a pull's events come by the hundred per second. */
export const PROGRESS_INTERVAL_MS = 500

export interface ProgressThrottle {
  /** Passes text on unless the last one went out less than the interval ago, or it is the same. */
  push (text: string): void
  /** Passes on the last text held back, if any. */
  flush (): void
}

/** At most one update per interval, with no timer: a held-back text goes out with the next push or the flush. */
export function progressThrottle (emit: (text: string) => void, intervalMs = PROGRESS_INTERVAL_MS, now: () => number = Date.now): ProgressThrottle {
  let last = -Infinity
  let sent: string | null = null
  let held: string | null = null
  const send = (text: string) => { last = now(); sent = text; held = null; emit(text) }
  return {
    push (text) {
      if (text === sent) { held = null; return }
      if (now() - last >= intervalMs) send(text)
      else held = text
    },
    flush () {
      if (held !== null) send(held)
    }
  }
}
