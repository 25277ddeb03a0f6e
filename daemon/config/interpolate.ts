// `${{ ns.name }}` templates (SPEC §1.7). Templates are resolved in stages by different parties
// (the CLI resolves `run.args` and `env.X`, the server `secrets.x`, the scheduler
// `dstack.node_rank` and the group IP addresses), so an early stage keeps what it cannot
// resolve and leaves the text re-interpolatable for the next one.
import { clip, ConfigError, fail, show, type ConfigIssue } from './errors.ts'

/** `groups[i].nodes[j].IP_ADDRESS` or `groups[i].replicas[j].IP_ADDRESS`. */
export interface GroupMemberRef { index: number, kind: 'nodes' | 'replicas', member: number }

export interface Reference {
  /** `secrets` in `${{ secrets.hf_token }}`; `groups` for a group member reference. */
  ns: string
  /** `hf_token`; for a group member reference the rest after `groups`: `[0].nodes[1].IP_ADDRESS`. */
  name: string
  /** The canonical reference: `secrets.hf_token`, `groups[0].nodes[1].IP_ADDRESS`. */
  key: string
  /** The template exactly as written, braces and spaces included: `${{ secrets.hf_token }}`. */
  raw: string
  /** Set for group member references. */
  group?: GroupMemberRef
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/
const GROUP_MEMBER = /^groups\[(\d+)\]\.(nodes|replicas)\[(\d+)\]\.IP_ADDRESS$/

function reference (inner: string, raw: string): Reference {
  const g = GROUP_MEMBER.exec(inner)
  if (g) {
    const index = Number(g[1])
    const member = Number(g[3])
    if (Number.isSafeInteger(index) && Number.isSafeInteger(member)) {
      return { ns: 'groups', name: inner.slice('groups'.length), key: inner, raw, group: { index, kind: g[2] as 'nodes' | 'replicas', member } }
    }
  }
  const dot = inner.indexOf('.')
  const ns = inner.slice(0, dot)
  if (!NAME.test(inner) || ns === 'groups') {
    const hint = inner.startsWith('groups')
      ? 'groups[i].nodes[j].IP_ADDRESS or groups[i].replicas[j].IP_ADDRESS'
      : 'namespace.name with letters, digits and _ (e.g. secrets.hf_token)'
    fail(`illegal reference name ${show(inner)} in ${show(raw)}: expected ${hint}`)
  }
  return { ns, name: inner.slice(dot + 1), key: inner, raw }
}

/**
 * The pieces of a template: literal text (with `$$` already turned into `$`) and references.
 * Adjacent literal text is one piece. Throws on an unclosed template or an illegal name.
 */
export function parseTemplate (s: string): Array<string | Reference> {
  const out: Array<string | Reference> = []
  let text = ''
  let i = 0
  while (i < s.length) {
    const dollar = s.indexOf('$', i)
    if (dollar < 0) { text += s.slice(i); break }
    text += s.slice(i, dollar)
    if (s[dollar + 1] === '$') { text += '$'; i = dollar + 2; continue }
    if (!s.startsWith('{{', dollar + 1)) { text += '$'; i = dollar + 1; continue }
    const close = s.indexOf('}}', dollar + 3)
    if (close < 0) {
      const rest = s.slice(dollar)
      fail(`unclosed template ${show(rest.length > 60 ? `${rest.slice(0, 57)}...` : rest)}: expected "}}"`)
    }
    const raw = s.slice(dollar, close + 2)
    const ref = reference(s.slice(dollar + 3, close).trim(), raw)
    if (text) out.push(text)
    text = ''
    out.push(ref)
    i = close + 2
  }
  if (text) out.push(text)
  return out
}

export function templateReferences (s: string): Reference[] {
  return parseTemplate(s).filter((p): p is Reference => typeof p !== 'string')
}

/** Where each namespace may be used (SPEC §1.7), for messages. */
const ALLOWED_IN = new Map([
  ['run.args', 'commands'],
  ['run.project_name', 'a gateway domain'],
  ['env', 'registry_auth and service probes (url, headers, body)'],
  ['secrets', 'env values and registry_auth'],
  ['dstack', 'network volume names'],
  ['groups.nodes', 'task commands'],
  ['groups.replicas', 'service commands']
])

/** Namespaces with a fixed set of names. */
const CLOSED = new Map<string, readonly string[]>([
  ['run', ['args', 'project_name']],
  ['dstack', ['job_num', 'node_rank']]
])

function allowedWhere (ref: Reference): string | undefined {
  return ALLOWED_IN.get(ref.key) ?? ALLOWED_IN.get(ref.group ? `groups.${ref.group.kind}` : ref.ns)
}

/**
 * Checks a template's syntax and that every reference may be used here. An entry of
 * `allowed` is a namespace (`secrets`), a full name (`run.args`), or `groups.nodes` /
 * `groups.replicas` for group member references. Throws naming each offending reference
 * and where it may be used. `context` names the place for messages ("network volume names").
 */
export function checkTemplate (s: string, allowed: readonly string[], context?: string): void {
  const place = context ? `in ${context}` : 'here'
  const issues: ConfigIssue[] = []
  for (const ref of templateReferences(s)) {
    const names = CLOSED.get(ref.ns)
    if (names && !names.includes(ref.name)) {
      issues.push({ path: [], message: `unknown reference ${ref.key} in ${show(ref.raw)}: expected ${names.map(n => `${ref.ns}.${n}`).join(' or ')}` })
      continue
    }
    const ok = allowed.includes(ref.ns) || allowed.includes(ref.key) || (ref.group !== undefined && allowed.includes(`groups.${ref.group.kind}`))
    if (ok) continue
    const where = allowedWhere(ref)
    const here = allowed.length ? `; ${place} only ${allowed.join(', ')} may be used` : `; no references may be used ${place}`
    issues.push({
      path: [],
      message: where
        ? `${ref.key} cannot be used ${place}: it is allowed only in ${where}${here}`
        : `${ref.key} cannot be used ${place}: unknown namespace ${show(ref.ns)}${here}`
    })
  }
  if (issues.length > 0) throw new ConfigError(issues)
}

export interface InterpolateOptions {
  /**
   * Leave references the lookup does not know as written, for a later stage. The result is
   * then itself a template: every `$` of literal text and of substituted values comes out
   * as `$$`, so the next interpolation gives back exactly the same text.
   */
  keepUnknown?: boolean
}

/**
 * Replaces every reference by `lookup(ref)`. A reference the lookup does not know (undefined)
 * is an error ("secrets.hf_token is not set"), or with `keepUnknown` stays as written.
 */
export function interpolate (s: string, lookup: (ref: Reference) => string | undefined, opts: InterpolateOptions = {}): string {
  const keep = opts.keepUnknown === true
  const escape = keep ? (t: string) => t.replaceAll('$', '$$$$') : (t: string) => t
  const missing = new Set<string>()
  let out = ''
  for (const piece of parseTemplate(s)) {
    if (typeof piece === 'string') { out += escape(piece); continue }
    const value = lookup(piece)
    if (value !== undefined) out += escape(value)
    else if (keep) out += piece.raw
    else missing.add(piece.key)
  }
  if (missing.size > 0) throw new ConfigError([...missing].map(key => ({ path: [], message: `${clip(key)} is not set` })))
  return out
}
