// Files of the job directory that every runtime writes the same way: JSON records written
// atomically, and the job's output, so the daemon reads finished logs the same way whichever
// runtime ran the job:
//   output.log  every byte of the output, in order
//   output.idx  one line {"o":<byte offset>,"t":<epoch ms>} per chunk, written before the chunk
// The process runtime's runner appends to them as the job runs; the docker runtime writes them
// once, from the engine's log, when the container has exited.
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { join } from 'node:path'
import type { LogChunk } from './types.ts'

export const LOG_FILE = 'output.log'
export const INDEX_FILE = 'output.idx'
const READ_MAX = 64 * 1024

export interface LogFileOptions {
  /** Epoch ms: chunks read before it are skipped. */
  since?: number
  /** Byte offset to start at (what a reader already has). */
  from?: number
  signal?: AbortSignal
  /**
   * Keep reading as the files grow: `ended()` says the writer is done (asked before each read, so
   * that what was written before it ended gets read), `changed()` resolves when they may have grown.
   */
  follow?: { ended (): boolean, changed (): Promise<void> }
}

/** The chunks of the job's output in dir, as LogChunks. */
export async function * readLogFiles (dir: string, opts: LogFileOptions = {}): AsyncGenerator<LogChunk> {
  const since = opts.since ?? -Infinity
  const { follow, signal } = opts
  const logPath = join(dir, LOG_FILE)
  const idxPath = join(dir, INDEX_FILE)

  // output.idx, read incrementally: entries[k] is the chunk holding byte pos.
  const entries: Array<{ o: number, t: number }> = []
  let k = -1
  let idxPos = 0
  let idxRest = ''
  let pos = opts.from ?? 0
  const fh: { log: fsp.FileHandle | null, idx: fsp.FileHandle | null } = { log: null, idx: null }
  const buf = Buffer.allocUnsafe(READ_MAX)

  const readIdx = async () => {
    fh.idx ??= await openOrNull(idxPath)
    if (!fh.idx) return
    for (;;) {
      const { bytesRead } = await fh.idx.read(buf, 0, READ_MAX, idxPos)
      if (bytesRead === 0) break
      idxPos += bytesRead
      const text = idxRest + buf.toString('latin1', 0, bytesRead)
      const lines = text.split('\n')
      idxRest = lines.pop()!
      for (const line of lines) {
        try {
          const e = JSON.parse(line) as { o: number, t: number }
          if (typeof e.o === 'number' && typeof e.t === 'number') entries.push(e)
        } catch {} // a torn line (the host crashed mid-write): the chunk joins the one before
      }
    }
  }

  try {
    for (;;) {
      if (signal?.aborted) return
      const ended = follow ? follow.ended() : true
      await readIdx()
      fh.log ??= await openOrNull(logPath)
      const size = fh.log ? (await fh.log.stat()).size : 0
      while (pos < size) {
        if (signal?.aborted) return
        while (k + 1 < entries.length && entries[k + 1]!.o <= pos) k++
        if (k > 4096) { entries.splice(0, k); k = 0 }
        const at = k >= 0 ? entries[k]!.t : (entries[0]?.t ?? Date.now())
        const end = Math.min(size, entries[k + 1]?.o ?? size)
        if (at < since) { pos = end; continue }
        const { bytesRead } = await fh.log!.read(buf, 0, Math.min(READ_MAX, end - pos), pos)
        if (bytesRead === 0) break
        yield { at, offset: pos, data: Buffer.from(buf.subarray(0, bytesRead)) }
        pos += bytesRead
      }
      if (ended || !follow) return
      await follow.changed()
    }
  } finally {
    await fh.log?.close()
    await fh.idx?.close()
  }
}

/**
 * Writes a whole output at once: into temporary files, renamed into place by `commit`, so a
 * reader (or a daemon killed half-way) never sees part of it.
 */
export class LogFileWriter {
  private readonly tmp = `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  private log: fs.WriteStream | null = null
  private idx: fs.WriteStream | null = null
  private offset = 0
  constructor (private readonly dir: string) {}

  async append (at: number, data: Buffer): Promise<void> {
    this.log ??= fs.createWriteStream(join(this.dir, LOG_FILE + this.tmp), { mode: 0o600 })
    this.idx ??= fs.createWriteStream(join(this.dir, INDEX_FILE + this.tmp), { mode: 0o600 })
    const a = this.idx.write(`{"o":${this.offset},"t":${at}}\n`)
    const b = this.log.write(data)
    this.offset += data.length
    if (!a) await new Promise(r => this.idx!.once('drain', () => r(undefined)))
    if (!b) await new Promise(r => this.log!.once('drain', () => r(undefined)))
  }

  get size (): number { return this.offset }

  async commit (): Promise<void> {
    this.log ??= fs.createWriteStream(join(this.dir, LOG_FILE + this.tmp), { mode: 0o600 })
    this.idx ??= fs.createWriteStream(join(this.dir, INDEX_FILE + this.tmp), { mode: 0o600 })
    await Promise.all([closeStream(this.log), closeStream(this.idx)])
    await fsp.rename(join(this.dir, INDEX_FILE + this.tmp), join(this.dir, INDEX_FILE))
    await fsp.rename(join(this.dir, LOG_FILE + this.tmp), join(this.dir, LOG_FILE))
  }

  async abort (): Promise<void> {
    for (const s of [this.log, this.idx]) if (s) await closeStream(s).catch(() => undefined)
    for (const f of [LOG_FILE, INDEX_FILE]) await fsp.rm(join(this.dir, f + this.tmp), { force: true })
  }
}

/** null when the file is missing (or torn by a host crash); other errors (EMFILE, …) throw. */
export async function readJson<T> (path: string): Promise<T | null> {
  let text: string
  try {
    text = await fsp.readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw e
  }
  try {
    return JSON.parse(text) as T
  } catch {
    return null
  }
}

/** Written by the daemon, readable only by it: a spec carries the job's environment. */
export async function writeAtomic (path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await fsp.writeFile(tmp, JSON.stringify(value) + '\n', { mode: 0o600 })
  await fsp.rename(tmp, path)
}

function closeStream (s: fs.WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject)
    s.end(() => resolve())
  })
}

async function openOrNull (path: string): Promise<fsp.FileHandle | null> {
  try {
    return await fsp.open(path, 'r')
  } catch {
    return null
  }
}
