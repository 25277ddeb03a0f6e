// Checking a message that came off the wire before the core believes any of it. A peer with a
// bug (or a frame cut in half) must cost one dropped message, not a corrupted log.
const TYPES = new Set(['append', 'appendResponse', 'heartbeat', 'heartbeatResponse', 'snapshot', 'vote', 'prevote', 'voteResponse', 'prevoteResponse'])
const ENTRY_TYPES = new Set(['normal', 'noop', 'config'])

/** What is wrong with `m` as a Raft message, or null when it is well formed. */
export function messageProblem (m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object'
  const r = m as Record<string, unknown>
  if (typeof r.type !== 'string' || !TYPES.has(r.type)) return `unknown type ${JSON.stringify(r.type)}`
  if (!id(r.from)) return 'from: not a node id'
  if (!id(r.to)) return 'to: not a node id'
  if (!index(r.term)) return 'term: not a non-negative integer'
  switch (r.type) {
    case 'append': {
      for (const k of ['prevIndex', 'prevTerm', 'commit'] as const) if (!index(r[k])) return `${k}: not a non-negative integer`
      if (!Array.isArray(r.entries)) return 'entries: not an array'
      const prev = r.prevIndex as number
      for (let k = 0; k < r.entries.length; k++) {
        const problem = entryProblem(r.entries[k], prev + 1 + k, r.term as number)
        if (problem) return `entries[${k}]: ${problem}`
      }
      return null
    }
    case 'appendResponse':
      if (!index(r.index)) return 'index: not a non-negative integer'
      if (typeof r.reject !== 'boolean') return 'reject: not a boolean'
      if (r.hintIndex !== undefined && !index(r.hintIndex)) return 'hintIndex: not a non-negative integer'
      if (r.hintTerm !== undefined && !index(r.hintTerm)) return 'hintTerm: not a non-negative integer'
      return null
    case 'heartbeat':
      if (!index(r.commit)) return 'commit: not a non-negative integer'
      return r.context === undefined || typeof r.context === 'string' ? null : 'context: not a string'
    case 'heartbeatResponse':
      return r.context === undefined || typeof r.context === 'string' ? null : 'context: not a string'
    case 'snapshot': {
      const s = r.snapshot as Record<string, unknown> | null
      if (typeof s !== 'object' || s === null) return 'snapshot: not an object'
      if (!index(s.index) || !index(s.term)) return 'snapshot: index and term must be non-negative integers'
      return membershipProblem(s.membership) ? `snapshot.membership: ${membershipProblem(s.membership)}` : null
    }
    case 'vote':
    case 'prevote':
      return index(r.lastIndex) && index(r.lastTerm) ? null : 'lastIndex and lastTerm must be non-negative integers'
    default:
      return typeof r.reject === 'boolean' ? null : 'reject: not a boolean'
  }
}

function entryProblem (e: unknown, expectedIndex: number, maxTerm: number): string | null {
  if (typeof e !== 'object' || e === null) return 'not an object'
  const r = e as Record<string, unknown>
  if (r.index !== expectedIndex) return `index ${JSON.stringify(r.index)}, expected ${expectedIndex}`
  if (!index(r.term) || (r.term as number) < 1 || (r.term as number) > maxTerm) return `term ${JSON.stringify(r.term)} out of range`
  if (typeof r.type !== 'string' || !ENTRY_TYPES.has(r.type)) return `unknown entry type ${JSON.stringify(r.type)}`
  if (r.type === 'config') {
    const data = r.data as Record<string, unknown> | null
    if (typeof data !== 'object' || data === null) return 'config data: not an object'
    const problem = membershipProblem(data.membership)
    if (problem) return `config membership: ${problem}`
  }
  return null
}

function membershipProblem (m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object'
  const r = m as Record<string, unknown>
  if (!Array.isArray(r.voters) || !r.voters.every(id)) return 'voters: not a list of node ids'
  if (!Array.isArray(r.learners) || !r.learners.every(id)) return 'learners: not a list of node ids'
  return null
}

function id (v: unknown): v is string {
  return typeof v === 'string' && v !== ''
}

function index (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}
