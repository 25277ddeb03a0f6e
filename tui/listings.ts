// The listings the one-shot commands print and the full-screen app shows, as headers and rows
// of plain text: `dstack fleet` joins them with table(), a screen hands them to its table, so a
// fleet or an offer looks the same in both. No colours here (a screen paints its own).
import type { FleetView, OfferView, Plan, StateEvent } from '../daemon/api/views.ts'
import type { ProjectView } from '../daemon/api/users.ts'
import type { RunConfiguration } from '../daemon/config/index.ts'
import type { Project } from './connect.ts'
import { ago, price } from './format.ts'

export interface Listing { headers: string[], rows: string[][] }

type InstanceView = FleetView['instances'][number]

/** The container engine an instance runs jobs in (`docker 20.10.24`), `no engine`, or `-` when not known. */
function containers (o: InstanceView['offer']): string {
  if (o.container_engine === undefined) return '-'
  return (o.container_engine ?? 'no engine') + (o.containers_only ? ' (every job)' : '')
}

/** `H100:80GB:8`, or `-` without GPUs. */
export function gpuText (o: InstanceView['offer']): string {
  return o.gpus.length ? `${o.gpus[0]!.name}:${o.gpus[0]!.memory}GB:${o.gpus.length}` : '-'
}

/** `dstack fleet [-v]`: a row per fleet, then one per instance under it. */
export function fleetListing (fleets: FleetView[], verbose: boolean): Listing {
  const headers = verbose ? ['NAME', 'NODES', 'RESOURCES', 'SPOT', 'BACKEND', 'PRICE', 'CONTAINERS', 'STATUS', 'CREATED', 'ERROR'] : ['NAME', 'NODES', 'GPU', 'SPOT', 'BACKEND', 'PRICE', 'STATUS', 'CREATED']
  const rows: string[][] = []
  for (const f of fleets) {
    const backends = [...new Set(f.instances.map(i => i.backend))].join(', ') || '*'
    rows.push(verbose ? [f.name, String(f.instances.length), '', '', backends, '', '', f.status, ago(f.created_at), ''] : [f.name, String(f.instances.length), '', '', backends, '', f.status, ago(f.created_at)])
    for (const i of f.instances) {
      rows.push(verbose
        ? [`   instance=${i.num}`, '', i.resources, i.offer.spot ? 'spot' : 'no', `${i.backend} (${i.region})`, price(i.offer.price), containers(i.offer), i.status_text, ago(i.created_at), i.warnings.join('; ')]
        : [`   instance=${i.num}`, '', gpuText(i.offer), i.offer.spot ? 'spot' : 'no', `${i.backend} (${i.region})`, price(i.offer.price), i.status_text, ago(i.created_at)])
    }
  }
  return { headers, rows }
}

/** `dstack offer` and the plan of `dstack apply`: `#  BACKEND  RESOURCES  INSTANCE TYPE  PRICE  availability`. */
export function offerListing (offers: OfferView[]): Listing {
  return {
    headers: ['#', 'BACKEND', 'RESOURCES', 'INSTANCE TYPE', 'PRICE', ''],
    rows: offers.map((o, i) => [String(i + 1), `${o.backend} (${o.region})`, `${o.resources}${o.spot ? ' (spot)' : ''}`, o.instance_type, price(o.price), o.availability])
  }
}

/** `dstack event`: `TIME  KIND  MESSAGE`. */
export function eventListing (events: StateEvent[]): Listing {
  return { headers: ['TIME', 'KIND', 'MESSAGE'], rows: events.map(eventRow) }
}

export function eventRow (e: StateEvent): string[] {
  return [new Date(e.at).toISOString(), e.kind, e.message]
}

/** The default project: the one marked so, else the first (as connect.ts picks it). */
export function defaultProject (projects: Project[]): Project | undefined {
  return projects.find(p => p.default === true) ?? projects[0]
}

/** `dstack project list [-v]`: `PROJECT  URL  [USER]  DEFAULT`; never the tokens. */
export function projectListing (projects: Project[], users?: string[]): Listing {
  const def = defaultProject(projects)
  return {
    headers: users ? ['PROJECT', 'URL', 'USER', 'DEFAULT'] : ['PROJECT', 'URL', 'DEFAULT'],
    rows: projects.map((p, i) => users ? [p.name, p.url, users[i]!, p === def ? '✓' : ''] : [p.name, p.url, p === def ? '✓' : ''])
  }
}

/** The mesh's projects the user is a member of: `PROJECT  ROLE  MEMBERS  CREATED`, `current` marked. */
export function meshProjectListing (projects: ProjectView[], current: string | null): Listing {
  return {
    headers: ['PROJECT', 'ROLE', 'MEMBERS', 'CREATED BY', 'CREATED', 'CURRENT'],
    rows: projects.map(p => [p.name, p.role, String(p.members.length), p.created_by, ago(p.created_at), p.name === current ? '✓' : ''])
  }
}

function retryText (r: Plan['retry'], duration: (s: number) => string): string {
  return r === false ? 'off' : `${duration(r.duration)}[${r.on_events.join(', ')}]`
}

/** The plan's properties as `dstack apply` prints them above its offers: `[label, value]`. */
export function planProperties (c: RunConfiguration, plan: Plan, duration: (s: number) => string): Array<[string, string]> {
  const typeText = c.type === 'task' ? `task (nodes=${c.groups ? c.groups.reduce((n, g) => n + g.nodes, 0) : c.nodes})` : c.type
  return [
    ['Project', plan.project], ['User', plan.user], ['Type', typeText], ['Resources', plan.resources],
    ['Spot policy', plan.spot_policy], ['Max price', plan.max_price === null ? 'off' : price(plan.max_price)],
    ['Retry policy', retryText(plan.retry, duration)],
    ...(c.creation_policy !== 'reuse-or-create' ? [['Creation policy', c.creation_policy] as [string, string]] : []),
    ['Idle duration', plan.idle_duration === 'off' ? '-' : plan.idle_duration], ['Max duration', plan.max_duration],
    ...(c.type === 'dev-environment' ? [['Inactivity duration', c.inactivity_duration === null ? '-' : duration(c.inactivity_duration)] as [string, string]] : []),
    ...(c.reservation ? [['Reservation', c.reservation] as [string, string]] : [])
  ]
}

/** A property line as the plan prints it: ` Project        main`. */
export function propertyLine ([k, v]: [string, string]): string {
  return ` ${k.padEnd(14)} ${v}`
}
