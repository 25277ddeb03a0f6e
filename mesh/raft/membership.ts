// Membership: who votes, who only learns, and what a single-server change turns that into.
import type { ConfChange, Membership, NodeId } from './types.ts'

/** The membership after `change`, or a message saying why the change does not apply. */
export function applyChange (m: Membership, change: ConfChange): Membership | string {
  const { node } = change
  if (typeof node !== 'string' || node === '') return 'a membership change needs a node id'
  const isVoter = m.voters.includes(node)
  const isLearner = m.learners.includes(node)
  const without = (list: NodeId[]) => list.filter(n => n !== node)
  switch (change.type) {
    case 'addVoter':
      if (isVoter) return `${node} is already a voter`
      return { voters: [...m.voters, node], learners: without(m.learners) }
    case 'addLearner':
      if (isLearner) return `${node} is already a learner`
      if (isVoter && m.voters.length === 1) return `${node} is the only voter`
      return { voters: without(m.voters), learners: [...m.learners, node] }
    case 'remove':
      if (!isVoter && !isLearner) return `${node} is not a member`
      if (isVoter && m.voters.length === 1) return `${node} is the only voter`
      return { voters: without(m.voters), learners: without(m.learners) }
    default:
      return `unknown membership change ${JSON.stringify((change as { type?: unknown }).type)}`
  }
}

export function copyMembership (m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] }
}

/** Checks a bootstrap membership: non-empty voters, no duplicates, no node in both lists. */
export function membershipProblem (m: Membership): string | null {
  const seen = new Set<NodeId>()
  for (const n of [...m.voters, ...m.learners]) {
    if (typeof n !== 'string' || n === '') return 'node ids must be non-empty strings'
    if (seen.has(n)) return `${n} is listed twice`
    seen.add(n)
  }
  return null
}

/** Votes needed among `voters` voters. */
export function quorum (voters: number): number {
  return Math.floor(voters / 2) + 1
}
