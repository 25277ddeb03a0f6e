// What this version runs. dstack accepts more than this version runs yet; the parts it does
// not run are named here once, with what to do instead, so that `dstack validate`,
// `dstack apply` and the daemon give one judgement of a file (parseRunConfiguration).
import { clip, type ConfigIssue, type Path } from './errors.ts'
import { templateReferences } from './interpolate.ts'
import { checkImageRequirements } from './resources.ts'
import type { Configuration } from './configuration.ts'

/** Configuration types dstack has and this version does not apply, each with what to do instead. */
export const UNSUPPORTED_TYPES: Readonly<Record<string, string>> = {
  fleet: 'fleet configurations are not supported yet: here the fleet is the mesh\'s hosts (`dstack fleet` lists them; a host joins with `dstackd join TOKEN`); SSH fleets and backend fleets come with later work',
  volume: 'volume configurations are not supported yet (network volumes come with later work): a job runs as a process on its host and reads and writes the host\'s directories',
  gateway: 'gateway configurations are not supported yet (gateways come with later work): run the service without `gateway`',
  preset: 'agent presets are not supported: they need dstack\'s external agent; write the task, service or dev environment the preset would create'
}

/**
 * Whether the configuration's jobs must run in a container (the docker runtime): it names an
 * image, asks for an engine inside the job, or for the CUDA compiler (an image carries it).
 * Anything else runs as a process unless the host is set to run every job in a container
 * (`dstackd run --runtime docker`).
 */
export function needsContainer (c: Configuration): boolean {
  if (c.type !== 'task' && c.type !== 'service' && c.type !== 'dev-environment') return false
  return c.image !== null || c.docker === true || c.nvcc === true
}

/** Issues for what a valid configuration asks that this version does not run (paths as in the configuration). */
export function unsupported (c: Configuration): ConfigIssue[] {
  const message = UNSUPPORTED_TYPES[c.type]
  if (message !== undefined) return [{ path: ['type'], message }]
  if (c.type !== 'task' && c.type !== 'service' && c.type !== 'dev-environment') return []
  const issues: ConfigIssue[] = []
  // dstack's server rule (SPEC §2.5): the default image serves NVIDIA (and TPU) only, and an
  // ARM CPU needs an image. Groups are checked against their own resources.
  for (const e of checkImageRequirements(c.resources, c)) issues.push({ path: ['resources'], message: e })
  const groups = c.type === 'task' ? c.groups ?? [] : c.type === 'service' && Array.isArray(c.replicas) ? c.replicas : []
  groups.forEach((g, i) => {
    for (const e of checkImageRequirements(g.resources, c)) issues.push({ path: [c.type === 'task' ? 'groups' : 'replicas', i, 'resources'], message: e })
  })
  walkStrings(c, [], (s, path) => issues.push(...references(s, path)))
  return issues
}

function references (s: string, path: Path): ConfigIssue[] {
  if (!s.includes('${{')) return []
  let refs
  try { refs = templateReferences(s) } catch { return [] } // not a template here: the grammar has judged it
  const out: ConfigIssue[] = []
  for (const ref of refs) {
    if (ref.ns === 'secrets') {
      const name = clip(path[0] === 'env' && path.length === 2 ? String(path[1]) : ref.name.toUpperCase())
      out.push({ path, message: `${clip(ref.raw)}: secrets are not supported yet; pass the value from your shell instead: list ${name} in \`env\` (\`env: [${name}]\`) and run \`${name}=… dstack apply\`` })
    } else if (ref.group) {
      out.push({ path, message: `${clip(ref.raw)}: references to a node's IP address are not supported yet; in the commands use $DSTACK_MASTER_NODE_IP (the first node) or $DSTACK_NODES_IPS (one address per line, in node rank order)` })
    }
  }
  return out
}

/** Calls `fn` on every string in `v` with its path; linear in the size of `v`. */
function walkStrings (v: unknown, path: Array<string | number>, fn: (s: string, path: Path) => void): void {
  if (typeof v === 'string') fn(v, [...path])
  else if (Array.isArray(v)) v.forEach((x, i) => { path.push(i); walkStrings(x, path, fn); path.pop() })
  else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) { path.push(k); walkStrings(x, path, fn); path.pop() }
  }
}
