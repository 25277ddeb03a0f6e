// Re-applying a configuration to an active run of the same name (SPEC §3.10): what may change
// in place, and what needs the run stopped first.
import type { RunConfiguration } from '../config/index.ts'

export type UpdateVerdict =
  | { kind: 'unchanged', changes: string[] }
  | { kind: 'in-place', changes: string[] }
  | { kind: 'impossible', changes: string[], reason: string }

const ALWAYS = ['priority']
const IN_PLACE: Record<RunConfiguration['type'], string[]> = {
  task: ALWAYS,
  'dev-environment': [...ALWAYS, 'inactivity_duration'],
  service: [...ALWAYS, 'replicas', 'scaling']
}

export function changedFields (a: RunConfiguration, b: RunConfiguration): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  const ra = a as unknown as Record<string, unknown>
  const rb = b as unknown as Record<string, unknown>
  return [...keys].filter(k => JSON.stringify(ra[k]) !== JSON.stringify(rb[k])).sort()
}

export function checkUpdate (current: RunConfiguration, next: RunConfiguration): UpdateVerdict {
  const changes = changedFields(current, next)
  if (changes.length === 0) return { kind: 'unchanged', changes }
  if (current.type !== next.type) return { kind: 'impossible', changes, reason: `the type changed from ${current.type} to ${next.type}` }
  const fixed = changes.filter(k => !IN_PLACE[next.type].includes(k))
  if (fixed.length > 0) return { kind: 'impossible', changes, reason: `changed: ${fixed.join(', ')}` }
  return { kind: 'in-place', changes }
}
