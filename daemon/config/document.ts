// YAML 1.1 text → plain values, remembering where each value came from so that an issue's
// path can be turned back into file:line:col.
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml'
import { ConfigError, type ConfigIssue, type Path } from './errors.ts'

export interface LoadedDocument {
  value: unknown
  /** Adds line and col to issues whose path is found in the document. */
  locate (issues: ConfigIssue[]): ConfigIssue[]
}

/** Parses YAML 1.1 (dstack reads files with PyYAML's safe_load: `yes` is true, `3.10` is 3.1). */
export function loadYaml (text: string, file?: string): LoadedDocument {
  const lines = new LineCounter()
  const doc = parseDocument(text, { version: '1.1', lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(e => {
      const pos = lines.linePos(e.pos[0])
      return { path: [], message: yamlMessage(e.message), line: pos.line, col: pos.col }
    }), file)
  }
  keepFloatText(doc)
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
 * `compute_capability: 8.0` is a float in YAML but the number 8 in JavaScript, which reads
 * as the bare integer dstack rejects; keep the text the user wrote for that field.
 */
function keepFloatText (doc: Document): void {
  visit(doc, {
    Pair (_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'compute_capability' && isScalar(pair.value)) {
        const v = pair.value
        if (typeof v.value === 'number' && Number.isInteger(v.value) && typeof v.source === 'string' && v.source.includes('.')) v.value = v.source
      }
    }
  })
}

function yamlMessage (message: string): string {
  // The yaml library appends its own position and a code excerpt; ours comes from the issue.
  return `invalid YAML: ${message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`
}

/** The offset of the deepest node on `path` that exists (the key itself when `key`). */
function offsetOf (doc: Document, path: Path, key: boolean): number | undefined {
  let node: unknown = doc.contents
  let offset = rangeStart(node)
  for (let i = 0; i < path.length; i++) {
    const part = path[i]
    if (isMap(node)) {
      const pair = node.items.find(p => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part))
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
