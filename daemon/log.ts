// The daemon's one logger: JSON lines `{ts, level, component, msg, ...fields}`, written
// synchronously (a line is out before a crash or `process.exit`), to stdout or to a file that
// is rotated by size. Every part of the daemon gets a `child(component)` of the one root Log.
//
// A Log is also callable as `log(level, msg, fields)`, the signature the agent, the scheduler
// and the host keeper take, so those accept a Log as it is.
import { closeSync, fchmodSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs'

export type Level = 'info' | 'warn' | 'error'

export interface Log {
  (level: Level, msg: string, fields?: object): void
  info (msg: string, fields?: object): void
  warn (msg: string, fields?: object): void
  error (msg: string, fields?: object): void
  /** The same sink, lines tagged with another component. */
  child (component: string): Log
  readonly component: string
}

/** Where the lines go. */
export interface LogSink {
  write (line: string): void
  close (): void
}

export interface LogOptions {
  /** What this logger speaks for: `dstackd`, `mesh`, `raft`, `agent`, … */
  component: string
  /** Default: stdout. */
  sink?: LogSink
  /** The time stamp of a line. Default: now. */
  clock?: () => Date
}

/** Keys every line has; a field of the same name cannot replace them. */
const RESERVED = new Set(['ts', 'level', 'component', 'msg'])

function jsonValue (value: unknown): unknown {
  if (value instanceof Error) return value.message
  if (typeof value === 'bigint') return value.toString()
  return value
}

export function createLog (opts: LogOptions): Log {
  const sink = opts.sink ?? stdoutSink()
  const clock = opts.clock ?? (() => new Date())
  const make = (component: string): Log => {
    const write = (level: Level, msg: string, fields?: object): void => {
      const line: Record<string, unknown> = { ts: clock().toISOString(), level, component, msg }
      for (const [k, v] of Object.entries(fields ?? {})) if (!RESERVED.has(k) && v !== undefined) line[k] = jsonValue(v)
      let text: string
      try {
        text = JSON.stringify(line)
      } catch (err) {
        // A field that cannot be JSON (a cycle): the line still goes out, without its fields.
        text = JSON.stringify({ ts: line.ts, level, component, msg, unloggable: (err as Error).message })
      }
      try { sink.write(text + '\n') } catch { /* a log that cannot be written must not stop the daemon */ }
    }
    const log = write as Log
    log.info = (msg, fields) => write('info', msg, fields)
    log.warn = (msg, fields) => write('warn', msg, fields)
    log.error = (msg, fields) => write('error', msg, fields)
    log.child = c => make(c)
    Object.defineProperty(log, 'component', { value: component })
    return log
  }
  return make(opts.component)
}

export function stdoutSink (): LogSink {
  return { write: line => { process.stdout.write(line) }, close () {} }
}

export interface FileSinkOptions {
  path: string
  /** Rotate when the file would grow past this. Default 10 MB. */
  maxBytes?: number
  /** How many rotated files to keep (`PATH.1` newest … `PATH.N`). Default 3. */
  keep?: number
}

/**
 * Appends to PATH (mode 0600); once it would pass `maxBytes`, PATH becomes PATH.1, PATH.1
 * becomes PATH.2, … and the oldest beyond `keep` is replaced. Synchronous, like stdout on Linux.
 */
export function fileSink (opts: FileSinkOptions): LogSink {
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024
  const keep = opts.keep ?? 3
  let fd = -1
  let size = 0
  const open = (): void => {
    fd = openSync(opts.path, 'a', 0o600)
    fchmodSync(fd, 0o600)
    size = fstatSync(fd).size
  }
  const rotate = (): void => {
    closeSync(fd)
    fd = -1
    for (let i = keep - 1; i >= 1; i--) {
      try { renameSync(`${opts.path}.${i}`, `${opts.path}.${i + 1}`) } catch { /* not there yet */ }
    }
    if (keep >= 1) renameSync(opts.path, `${opts.path}.1`)
    else closeSync(openSync(opts.path, 'w'))
    open()
  }
  open()
  return {
    write (line) {
      const bytes = Buffer.byteLength(line)
      if (size > 0 && size + bytes > maxBytes) {
        try { rotate() } catch { if (fd < 0) open() }
      }
      writeSync(fd, line)
      size += bytes
    },
    close () {
      if (fd >= 0) closeSync(fd)
      fd = -1
    }
  }
}
