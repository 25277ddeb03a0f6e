// Shared output helpers: tables, relative times, sizes. One-shot commands and the full-screen
// app use the same formatters, so a table looks the same everywhere.
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
