// What the commands share: tables, relative times, sizes, errors as people read them, the
// files they are given, a job's output. One-shot commands and the full-screen app use the same
// formatters, so a table looks the same everywhere.
import { readFileSync } from 'node:fs'
import { bold } from './style.ts'

/** A plain-text table: headers in bold on a terminal, columns padded to fit. */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [bold(line(headers)), ...rows.map(line)].join('\n')
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
