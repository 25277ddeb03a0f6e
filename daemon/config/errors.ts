// The one error type of the configuration language. Every grammar function throws it and
// nothing else; a whole-file parse collects every issue before throwing, so a user sees all
// of a file's mistakes at once.

export type Path = ReadonlyArray<string | number>

export interface ConfigIssue {
  /** Where the value sits in the document: `['resources', 'gpu']`, `['groups', 0, 'name']`. */
  path: Path
  /** What is wrong and, where it helps, what was expected. */
  message: string
  /** True when the issue is about the key itself (an unknown field), not its value. */
  key?: boolean
  /** 1-based position in the file, when the issue came from a file. */
  line?: number
  col?: number
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[]
  readonly file: string | undefined

  constructor (issues: ConfigIssue[] | string, file?: string) {
    const list = typeof issues === 'string' ? [{ path: [], message: issues }] : issues
    super(formatIssues(list, file))
    this.name = 'ConfigError'
    this.issues = list
    this.file = file
  }

  /** The same issues, seen from `prefix` one level up (a grammar used inside a document). */
  under (prefix: Path): ConfigError {
    return new ConfigError(this.issues.map(i => ({ ...i, path: [...prefix, ...i.path] })), this.file)
  }
}

/** `resources.gpu`, `groups[0].name`, `env.HF_TOKEN`. */
export function formatPath (path: Path): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (part.length <= SHOW_MAX && /^[A-Za-z_][\w-]*$/.test(part)) out += out ? `.${part}` : part
    else out += `[${show(part)}]`
  }
  return out
}

export function formatIssue (issue: ConfigIssue, file?: string): string {
  const where = file ? `${file}${issue.line ? `:${issue.line}:${issue.col ?? 1}` : ''}: ` : ''
  const path = formatPath(issue.path)
  return `${where}${path ? `${path}: ` : ''}${issue.message}`
}

function formatIssues (issues: ConfigIssue[], file?: string): string {
  return issues.map(i => formatIssue(i, file)).join('\n')
}

/** Throws a ConfigError with one issue at the value itself. */
export function fail (message: string): never {
  throw new ConfigError([{ path: [], message }])
}

/** The most characters of a value a message quotes: errors stay short whatever the input. */
export const SHOW_MAX = 80

/** Text from the input, unquoted, cut to SHOW_MAX characters for a message. */
export function clip (text: string): string {
  return text.length > SHOW_MAX ? `${text.slice(0, SHOW_MAX)}… (${text.length} characters)` : text
}

/** Quotes a value for a message the way a user wrote it, cut to SHOW_MAX characters. */
export function show (value: unknown): string {
  if (typeof value === 'string') return value.length > SHOW_MAX ? `${JSON.stringify(value.slice(0, SHOW_MAX))}… (${value.length} characters)` : JSON.stringify(value)
  if (value === undefined) return 'nothing'
  let text: string
  try { text = JSON.stringify(value) ?? String(value) } catch { return Object.prototype.toString.call(value) }
  return clip(text)
}

/** Words longer than this get no suggestion: no field name is near them, and the search would be slow. */
const NEAREST_MAX_LENGTH = 64

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
export function nearest (word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > NEAREST_MAX_LENGTH) return undefined
  let best: string | undefined
  let bestDistance = Infinity
  const w = word.toLowerCase()
  for (const c of candidates) {
    const limit = Math.max(1, Math.floor(Math.max(w.length, c.length) / 3))
    // The distance is at least the difference in length: a candidate too far by that alone is skipped.
    if (Math.abs(c.length - w.length) > limit) continue
    const d = editDistance(w, c.toLowerCase(), Math.min(limit, bestDistance - 1))
    if (d < bestDistance && d <= limit) { best = c; bestDistance = d }
  }
  return best
}

// Three rows of the distance table, reused: the search runs once per unknown key.
let rows: [number[], number[], number[]] = [[], [], []]

/**
 * Edit distance counting a swap of neighbours as one edit (optimal string alignment), or
 * `cutoff + 1` as soon as it is known to exceed `cutoff`.
 */
function editDistance (a: string, b: string, cutoff: number): number {
  let [prev2, prev, row] = rows
  for (let j = 0; j <= b.length; j++) prev[j] = j
  let prevLeast = 0
  for (let i = 1; i <= a.length; i++) {
    row[0] = i
    let least = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1)
      row[j] = v
      if (v < least) least = v
    }
    // A cell comes from this row or, by a swap, the one before: two rows over the cutoff
    // keep every later row over it.
    if (least > cutoff && prevLeast > cutoff) { rows = [prev2, prev, row]; return cutoff + 1 }
    prevLeast = least;
    [prev2, prev, row] = [prev, row, prev2]
  }
  rows = [prev2, prev, row]
  return prev[b.length]!
}
