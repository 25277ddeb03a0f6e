// `type: volume` (SPEC §1.8): a network volume, dispatched a second time on `backend`.
import { fail, show, type ConfigIssue } from './errors.ts'
import { parseIdleDuration } from './duration.ts'
import { tags } from './profile.ts'
import { parseMemory } from './range.ts'
import { runName } from './run.ts'
import { asBool, asEnum, asString, isMapping } from './scalars.ts'
import { isSet, list, opt, record } from './schema.ts'

export const VOLUME_BACKENDS = ['aws', 'gcp', 'runpod', 'kubernetes'] as const
const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const

const str = (v: unknown) => asString(v)

function common<B extends typeof VOLUME_BACKENDS[number]> (backend: B) {
  return {
    type: () => 'volume' as const,
    backend: () => backend,
    name: opt(runName, null),
    size: opt(parseMemory, null),
    auto_cleanup_duration: (v: unknown) => parseIdleDuration(v, -1),
    tags: opt(tags, null)
  }
}

/**
 * A new volume needs a size; one that registers an existing volume does not. An existing
 * (`volume_id`) volume is never deleted by dstack, so it cannot have an `auto_cleanup_duration`.
 */
function sizeRule (existing: 'volume_id' | 'claim_name') {
  return <T extends { size: number | null, auto_cleanup_duration: number }>(out: T, raw: Record<string, unknown>): ConfigIssue[] => {
    const issues: ConfigIssue[] = []
    if (out.size === null && !isSet(raw, existing)) issues.push({ path: ['size'], message: `is required to create a volume (or give \`${existing}\` to use an existing one)` })
    if (existing === 'volume_id' && isSet(raw, 'volume_id') && out.auto_cleanup_duration > 0) {
      issues.push({ path: ['auto_cleanup_duration'], message: 'an existing volume (`volume_id`) is never deleted by dstack, so it cannot have an auto_cleanup_duration (only `off`)' })
    }
    return issues
  }
}

const byBackend = {
  aws: record({ ...common('aws'), region: str, availability_zone: opt(str, null), volume_id: opt(str, null) }, sizeRule('volume_id')),
  gcp: record({ ...common('gcp'), region: str, availability_zone: opt(str, null), volume_id: opt(str, null) }, sizeRule('volume_id')),
  runpod: record({ ...common('runpod'), region: str, volume_id: opt(str, null) }, sizeRule('volume_id')),
  kubernetes: record({
    ...common('kubernetes'),
    region: opt(str, ''),
    claim_name: opt(str, null),
    storage_class_name: opt(str, null),
    access_modes: opt(list(v => asEnum(v, ACCESS_MODES)), ['ReadWriteOnce']),
    read_only: opt(asBool, false)
  }, sizeRule('claim_name'))
}

export function parseVolume (v: unknown) {
  if (!isMapping(v)) return fail(`expected a mapping, got ${show(v)}`)
  if (v.backend === undefined || v.backend === null) {
    return fail(`\`backend\` is required: one of ${VOLUME_BACKENDS.join(', ')}`)
  }
  const backend = asEnum(v.backend, VOLUME_BACKENDS)
  return byBackend[backend](v)
}

export type VolumeConfiguration = ReturnType<typeof parseVolume>
