// YAML 1.1 text → plain values, remembering where each value came from so that an issue's
// path can be turned back into file:line:col.
import { LineCounter, Scalar, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml'
import { ConfigError, SHOW_MAX, show, type ConfigIssue, type Path } from './errors.ts'

/** The largest configuration accepted, in bytes: dstack's own files are a few KB. */
export const MAX_CONFIGURATION_BYTES = 1024 * 1024

export interface LoadedDocument {
  value: unknown
  /** Adds line and col to issues whose path is found in the document. */
  locate (issues: ConfigIssue[]): ConfigIssue[]
}

/** Parses YAML 1.1 (dstack reads files with PyYAML's safe_load: `yes` is true, `3.10` is 3.1). */
export function loadYaml (text: string, file?: string): LoadedDocument {
  checkSize(text.length > MAX_CONFIGURATION_BYTES / 4 ? Buffer.byteLength(text) : text.length, file)
  const lines = new LineCounter()
  // uniqueKeys is checked below in one pass: the library's own check is quadratic in the keys.
  const doc = parseDocument(text, { version: '1.1', lineCounter: lines, prettyErrors: false, uniqueKeys: false })
  const at = (offset: number) => { const pos = lines.linePos(offset); return { line: pos.line, col: pos.col } }
  const errors: ConfigIssue[] = doc.errors.map(e => ({ path: [], message: yamlMessage(e.message), ...at(e.pos[0]) }))
  if (errors.length === 0) errors.push(...asPyYaml(doc).map(({ offset, message }) => ({ path: [], message, ...at(offset) })))
  if (errors.length > 0) throw new ConfigError(errors, file)
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new ConfigError(`invalid YAML: ${(err as Error).message}`, file)
  }
  return {
    value,
    locate: issues => issues.map(issue => {
      const offset = offsetOf(doc, issue.path, issue.key === true)
      if (offset === undefined) return issue
      const pos = lines.linePos(offset)
      return { ...issue, line: pos.line, col: pos.col }
    })
  }
}

/**
 * Refuses a text over MAX_CONFIGURATION_BYTES before anything reads it: `size` in bytes, a
 * lower bound when `partial` (a stream read only up to the limit).
 */
export function checkSize (size: number, file?: string, partial = false): void {
  if (size <= MAX_CONFIGURATION_BYTES) return
  const limit = `${MAX_CONFIGURATION_BYTES / 1024 / 1024} MB`
  const actual = partial ? `over ${limit}` : `${(size / 1024 / 1024).toFixed(1)} MB`
  throw new ConfigError(`the configuration is too large: ${actual}, and a configuration may be at most ${limit}`, file)
}

// PyYAML's implicit types (resolver.py). The yaml library's YAML 1.1 schema is wider: it reads
// `.` as NaN (so `repos: [.]` lost the current directory), `y`/`n` as booleans and `1e5` as a
// number, all of which PyYAML, and so dstack, reads as strings.
const PY_BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/
const PY_INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/
const PY_FLOAT = /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/

/**
 * One pass over the document: plain scalars typed as PyYAML types them, and duplicate keys
 * (which the yaml library would find in quadratic time) reported. Also keeps the text of
 * `compute_capability: 8.0`, a float in YAML but the number 8 in JavaScript, which would read
 * as the bare integer dstack rejects.
 */
function asPyYaml (doc: Document): Array<{ offset: number, message: string }> {
  const issues: Array<{ offset: number, message: string }> = []
  visit(doc, {
    Scalar (_, node) {
      node.value = pyValue(node)
    },
    Map (_, map) {
      // Visited before its keys: compare them as PyYAML reads them. `<<` merges may repeat.
      const seen = new Set<string>()
      for (const pair of map.items) {
        if (!isScalar(pair.key) || pair.key.value === '<<') continue
        const key = String(pyValue(pair.key))
        if (seen.has(key)) issues.push({ offset: rangeStart(pair.key) ?? 0, message: `invalid YAML: map keys must be unique: ${show(key)} appears more than once` })
        seen.add(key)
      }
    },
    Pair (_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'compute_capability' && isScalar(pair.value)) {
        const v = pair.value
        if (typeof v.value === 'number' && Number.isInteger(v.value) && typeof v.source === 'string' && v.source.includes('.')) v.value = v.source
      }
    }
  })
  return issues
}

/** A plain scalar's value as PyYAML's resolver types it. */
function pyValue (node: Scalar): unknown {
  if (node.type !== Scalar.PLAIN || typeof node.source !== 'string') return node.value
  const src = node.source
  if (typeof node.value === 'boolean' && !PY_BOOL.test(src)) return src
  if (typeof node.value === 'number' && !PY_INT.test(src) && !PY_FLOAT.test(src)) return src
  return node.value
}

function yamlMessage (message: string): string {
  // The yaml library appends its own position and a code excerpt; ours comes from the issue.
  // Its messages quote the offending token whole: cut it as every quoted value is.
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
  return `invalid YAML: ${first.length > 2 * SHOW_MAX ? `${first.slice(0, 2 * SHOW_MAX)}…` : first}`
}

/** A mapping's pairs by key, built once per mapping, so locating N issues is linear, not N × keys. */
const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>()

function pairOf (map: YAMLMap, key: string): Pair | undefined {
  let index = pairIndex.get(map)
  if (!index) {
    index = new Map()
    for (const p of map.items) if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p)
    pairIndex.set(map, index)
  }
  return index.get(key)
}

/** The offset of the deepest node on `path` that exists (the key itself when `key`). */
function offsetOf (doc: Document, path: Path, key: boolean): number | undefined {
  let node: unknown = doc.contents
  let offset = rangeStart(node)
  for (let i = 0; i < path.length; i++) {
    const part = path[i]
    if (isMap(node)) {
      const pair = pairOf(node, String(part))
      if (!pair) return offset
      if (key && i === path.length - 1) return rangeStart(pair.key) ?? offset
      node = pair.value
      offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part]
      if (node === undefined) return offset
      offset = rangeStart(node) ?? offset
    } else {
      return offset
    }
  }
  return offset
}

function rangeStart (node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0]
}
