// What the commands share: tables, relative times, sizes, errors as people read them, the
// files they are given, a job's output. One-shot commands and the full-screen app use the same
// formatters, so a table looks the same everywhere.
import { readFileSync } from 'node:fs'
import type { JobView, RunView } from '../daemon/api/views.ts'
import { bold } from './style.ts'

/** A plain-text table: headers in bold on a terminal, columns padded to fit. */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [bold(line(headers)), ...rows.map(line)].join('\n')
}

/** A row of the runs table (`dstack ps`, the app's Runs screen): a run, or one of its jobs under it. */
export interface RunRow {
  run: RunView
  /** Set on a job's row under a multi-job run, and on a single-job run's own row. */
  job?: JobView
  /** A job's row under its run (indented). */
  nested: boolean
  cells: string[]
}

/** The runs table's headers: `dstack ps`, or with `verbose` `dstack ps -v`. */
export function runHeaders (verbose: boolean): string[] {
  return verbose
    ? ['NAME', 'BACKEND', 'RESOURCES', 'INSTANCE TYPE', 'PRICE', 'STATUS', 'SUBMITTED', 'ERROR']
    : ['NAME', 'BACKEND', 'GPU', 'PRICE', 'STATUS', 'SUBMITTED']
}

/** The GPU part of a resources text; `-` when GPUs are optional or none are asked for. */
function gpuText (resources: string): string {
  const gpu = /gpu=(\S+)/.exec(resources)?.[1]
  return gpu === undefined || gpu === '0..' || gpu === '0' ? '-' : gpu
}

/** The runs table's rows: each run, and under a run of several jobs (nodes, replicas) a row per job. */
export function runRows (runs: RunView[], verbose: boolean, now = Date.now()): RunRow[] {
  const rows: RunRow[] = []
  for (const run of runs) {
    const backend = run.backend ? `${run.backend} (${run.region})` : '-'
    const single = run.jobs.length === 1
    const job0 = run.jobs[0]
    const error = (j?: JobView) => [j?.error ?? run.error, j?.waiting_reason, j?.limits_note, j?.previous].filter(Boolean).join('; ')
    const cells = (name: string, status: string, submitted: number, j?: JobView) => verbose
      ? [name, j?.hostname ? backend : '-', j?.resources ?? run.resources, j?.hostname ?? '-', price(run.price), status, ago(submitted, now), error(j)]
      : [name, j?.hostname ? backend : '-', gpuText(j?.resources ?? run.resources), price(run.price), status, ago(submitted, now)]
    rows.push({ run, job: single ? job0 : undefined, nested: false, cells: cells(run.name, run.status_text, run.submitted_at, single ? job0 : undefined) })
    if (!single) {
      const replicas = new Set(run.jobs.map(j => j.replica_num)).size
      for (const j of run.jobs) {
        const label = [replicas > 1 ? `replica=${j.replica_num}` : '', `job=${j.job_num}`, j.group && j.group !== String(j.job_num) ? `group=${j.group}` : ''].filter(Boolean).join(' ')
        rows.push({ run, job: j, nested: true, cells: cells(`  ${label}`, j.status_text, j.submitted_at, j) })
      }
    }
  }
  return rows
}

/** dstack's pretty dates: "now", "12 secs ago", "3 mins ago", "2 hours ago", "yesterday", a date. */
export function ago (ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - ms) / 1000))
  if (s < 2) return 'now'
  if (s < 60) return `${s} secs ago`
  if (s < 120) return '1 min ago'
  if (s < 3600) return `${Math.floor(s / 60)} mins ago`
  if (s < 7200) return '1 hour ago'
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`
  if (s < 2 * 86400) return 'yesterday'
  return new Date(ms).toISOString().slice(0, 10)
}

export function price (p: number | null): string {
  if (p === null) return '-'
  return `$${Number(p.toFixed(4))}`
}

export function bytes (n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)}${units[i]}`
}

/** A signal that aborts on Ctrl+C: how a watching command is left. */
export function interruptSignal (): AbortSignal {
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  return stop.signal
}

/** Asks a yes/no question on the terminal; without one, fails with what to pass instead. */
export async function confirm (question: string, flag = '-y'): Promise<boolean> {
  if (!process.stdin.isTTY) throw new Error(`${question} — standard input is not a terminal: pass ${flag} to go ahead without asking`)
  process.stdout.write(`${question} [y/n]: `)
  const answer = await new Promise<string>(resolve => {
    process.stdin.setEncoding('utf8')
    process.stdin.once('data', d => { process.stdin.pause(); resolve(String(d).trim().toLowerCase()) })
    process.stdin.resume()
  })
  return answer === 'y' || answer === 'yes'
}

const SYSTEM_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system'
}

/** An error as a person reads it: a file the system refused names the file and why, never `ENOENT: …`. */
export function errorText (err: Error & { code?: unknown, path?: unknown }): string {
  const reason = typeof err.code === 'string' ? SYSTEM_REASONS[err.code] : undefined
  if (reason === undefined) return err.message
  return typeof err.path === 'string' ? `${err.path}: ${reason}` : reason
}

/** The text of a file a command was given (`-` is standard input); a failure names the file. */
export function readInput (file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    throw Object.assign(err as Error, { path: file === '-' ? 'standard input' : file })
  }
}

/**
 * Writes a job's output to stdout. A job runs under a terminal, so its lines end in \r\n: on a
 * terminal they go out as they are, into a pipe or a file as \n (a lone \r, a progress bar's,
 * stays). `end()` writes a \r held back at the end of a chunk in case a \n began the next.
 */
export function jobOutput (out: NodeJS.WriteStream = process.stdout): { write (chunk: Buffer): void, end (): void } {
  if (out.isTTY) return { write: chunk => { out.write(chunk) }, end: () => undefined }
  let heldCR = false
  return {
    write (chunk) {
      const buf = Buffer.allocUnsafe(chunk.length + 1)
      let n = 0
      if (heldCR && chunk[0] !== 0x0a) buf[n++] = 0x0d
      heldCR = false
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!
        if (b === 0x0d) {
          if (i === chunk.length - 1) { heldCR = true; continue }
          if (chunk[i + 1] === 0x0a) continue
        }
        buf[n++] = b
      }
      if (n > 0) out.write(buf.subarray(0, n))
    },
    end () {
      if (heldCR) out.write('\r')
      heldCR = false
    }
  }
}
