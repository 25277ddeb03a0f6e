// The engine's log of a job's container, read back as the job's output. The container has a tty,
// so the log holds one stream; read with timestamps, each message is `<RFC3339Nano> <bytes>`,
// where the bytes are a line with its '\n', or 16 KiB of a longer line (the engine's copy
// buffer), or whatever was left without a '\n' when the container ended. That is what lets the
// messages be split apart again without loss.
import type { LogChunk } from '../types.ts'

/** The engine cuts lines longer than this into messages of exactly this size. */
const PARTIAL = 16 * 1024
const HEADER = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) /
const HEADER_ANYWHERE = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d) /
const HEADER_MAX = 40
/** Consecutive messages of the same millisecond are given as one chunk, up to this size. */
const CHUNK_MAX = 64 * 1024

export interface Message { at: number, data: Buffer }

/** Splits the engine's timestamped log back into messages; feed it bytes as they come. */
export class MessageParser {
  private pending: Buffer = Buffer.alloc(0)
  private lastAt = 0

  push (bytes: Buffer): Message[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, bytes]) : bytes
    return this.take(false)
  }

  end (): Message[] {
    return this.take(true)
  }

  private take (ended: boolean): Message[] {
    const out: Message[] = []
    let p = this.pending
    for (;;) {
      if (p.length === 0) break
      const head = HEADER.exec(p.subarray(0, HEADER_MAX).toString('latin1'))
      if (!head) {
        if (p.length < HEADER_MAX && !ended) break
        // Not a message boundary (a message the engine re-encoded to another length): the bytes
        // up to the next header belong to the message before.
        const next = HEADER_ANYWHERE.exec(p.toString('latin1'))
        const end = next ? next.index : (ended ? p.length : Math.max(0, p.length - HEADER_MAX))
        if (end === 0) break
        out.push({ at: this.lastAt, data: p.subarray(0, end) })
        p = p.subarray(end)
        continue
      }
      const start = head[0].length
      const nl = p.indexOf(10, start)
      let end: number
      if (nl !== -1 && nl - start < PARTIAL) end = nl + 1
      else if (p.length - start >= PARTIAL) end = start + PARTIAL
      else if (ended) end = p.length
      else break
      const at = Date.parse(head[1]!)
      if (Number.isFinite(at)) this.lastAt = at
      out.push({ at: this.lastAt, data: p.subarray(start, end) })
      p = p.subarray(end)
    }
    this.pending = p.length ? Buffer.from(p) : Buffer.alloc(0)
    return out
  }
}

/** Messages as LogChunks, numbering bytes from `offset`; messages of one millisecond are merged. */
export function chunksOf (messages: Message[], offset: number): LogChunk[] {
  const out: LogChunk[] = []
  let group: Message[] = []
  let size = 0
  const flush = () => {
    if (group.length === 0) return
    const data = group.length === 1 ? Buffer.from(group[0]!.data) : Buffer.concat(group.map(m => m.data))
    out.push({ at: group[0]!.at, offset, data })
    offset += data.length
    group = []
    size = 0
  }
  for (const m of messages) {
    if (m.data.length === 0) continue
    if (group.length > 0 && (group[0]!.at !== m.at || size + m.data.length > CHUNK_MAX)) flush()
    group.push(m)
    size += m.data.length
  }
  flush()
  return out
}
