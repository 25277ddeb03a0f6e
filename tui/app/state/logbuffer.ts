// A job's output as lines for the Logs screen: base64 pieces in, lines out, each with the time
// its piece came and the attempt (submission) it belongs to. Terminal control sequences are
// taken out (a job runs under a terminal: colours, \r\n, progress bars' \r), so a line is what
// it reads as. Lines are kept in arrays that only grow, so appending 100,000 lines stays cheap.
export interface LogLine { at: number, submission: number, text: string }

// CSI and OSC sequences, and the other escapes a program writes to a terminal.
const CONTROL = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g

export class LogBuffer {
  readonly lines: LogLine[] = []
  /** Bumped at every change, for memos. */
  version = 0
  /** Bumped when cleared: what was worked out from the old lines is stale. */
  generation = 0
  private partial = ''
  private partialAt = 0
  private partialSubmission = 0

  clear (): void {
    this.lines.length = 0
    this.partial = ''
    this.partialSubmission = 0
    this.version++
    this.generation++
  }

  /** Adds a piece of output (`data` base64, as the `logs` stream sends it). */
  append (data: string, at: number, submission: number): void {
    this.appendText(Buffer.from(data, 'base64').toString('utf8'), at, submission)
  }

  appendText (text: string, at: number, submission: number): void {
    if (submission !== this.partialSubmission && this.partial !== '') this.flushPartial()
    // A retried job's output goes on in its next attempt: a line says where.
    if (submission !== this.partialSubmission && this.lines.length > 0) this.lines.push({ at, submission, text: `── attempt ${submission + 1} ──` })
    if (this.partial === '') this.partialAt = at
    this.partialSubmission = submission
    let start = 0
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.lines.push({ at: this.partialAt, submission, text: clean(this.partial + text.slice(start, nl)) })
      this.partial = ''
      this.partialAt = at
      start = nl + 1
    }
    this.partial += text.slice(start)
    this.version++
  }

  /** Lines, and the unfinished last one (a prompt, a progress bar) if any. */
  get count (): number { return this.lines.length + (this.partial === '' ? 0 : 1) }

  at (i: number): LogLine {
    return this.lines[i] ?? { at: this.partialAt, submission: this.partialSubmission, text: clean(this.partial) }
  }

  private flushPartial (): void {
    this.lines.push({ at: this.partialAt, submission: this.partialSubmission, text: clean(this.partial) })
    this.partial = ''
  }
}

/** A line as it reads: what a \r overwrote is gone, control sequences and tabs are made plain. */
export function clean (line: string): string {
  const cr = line.lastIndexOf('\r', line.length - 2)
  const tail = cr >= 0 ? line.slice(cr + 1) : line
  return tail.replace(/\r$/, '').replace(/\t/g, '    ').replace(CONTROL, '')
}
