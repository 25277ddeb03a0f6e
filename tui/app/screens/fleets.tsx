// Fleets and hosts: `dstack fleet`'s listing (the same rows) with each host's mesh role and
// pulse, and under it the selected host in full: its GPUs (name, memory, a utilization bar
// where the host reports it, else who holds each), CPUs and memory held, its jobs, and whether
// it is reachable (since when not). Live from fleets.watch; the pulse history is kept here.
import { Box, Text } from 'ink'
import { useEffect, useMemo, useRef, useState, type ReactElement } from 'react'
import type { FleetView, HostView } from '../../../daemon/api/views.ts'
import { ago } from '../../format.ts'
import { fleetListing, type Listing } from '../../listings.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { fit, Table } from '../components/table.tsx'
import { cellsOf, columnsOf, useListingTable } from '../components/listing.ts'
import { columnWidths } from '../state/table.ts'
import { useStream } from '../data/stream.ts'
import { addSamples, bar, busyness, sparkline } from '../state/pulse.ts'

/** How often the pulse takes a sample. */
export const PULSE_MS = 2000
/** PULSE takes the width the other columns leave (growing last); the others keep dstack fleet's. */
const EXTRA = { PULSE: { grow: true }, BACKEND: { max: 16 } }

/** The pulse column's width in a box `width` wide: what the other columns leave. */
function pulseWidthFor (fleets: FleetView[], hosts: HostView[], width: number): number {
  const { listing } = fleetRows(fleets, hosts, new Map(), 0)
  const widths = columnWidths(columnsOf(listing.headers, EXTRA), listing.rows, width)
  return widths[widths.length - 1] ?? 0
}

/** A row of the table: a fleet, or one of its hosts. */
export interface FleetRow { fleet: FleetView, host?: HostView }

/** The fleet listing with ROLE and PULSE added, and the item each row shows. */
export function fleetRows (fleets: FleetView[], hosts: HostView[], history: ReadonlyMap<string, number[]>, pulseWidth: number): { items: FleetRow[], listing: Listing } {
  const base = fleetListing(fleets, false)
  const byId = new Map(hosts.map(h => [h.instance.id, h]))
  const items: FleetRow[] = []
  for (const f of fleets) {
    items.push({ fleet: f })
    for (const i of f.instances) items.push({ fleet: f, host: byId.get(i.id) })
  }
  const rows = base.rows.map((cells, n) => {
    const host = items[n]?.host
    return [...cells, host === undefined ? '' : (host.role ?? '-'), host === undefined ? '' : sparkline(history.get(host.instance.id) ?? [], pulseWidth)]
  })
  return { items, listing: { headers: [...base.headers, 'ROLE', 'PULSE'], rows } }
}

const tenths = (n: number): number => Math.round(n * 10) / 10

/** Who holds GPU `slot` of a host: `train/train-0`, `another project`, or null when free. */
function holderOf (h: HostView, slot: number): string | null {
  const j = h.jobs.find(j => j.gpus.includes(slot))
  if (j === undefined) return null
  return j.run === null ? 'another project' : `${j.run}/${j.job}`
}

/** The selected host in full, one line each. */
export function hostLines (h: HostView, history: readonly number[], width: number): string[] {
  const i = h.instance
  const o = i.offer
  const reach = h.reachable ? 'reachable' : `unreachable${h.unreachable_since === null ? '' : ` since ${ago(h.unreachable_since)}`}`
  const lines = [`${i.name} (instance=${i.num}, ${i.hostname})  ${h.role ?? 'not in the mesh'}  ${reach}  ${i.backend} (${i.region})  ${i.status_text}`]
  const barWidth = Math.max(10, Math.min(30, width - 40))
  o.gpus.forEach((g, slot) => {
    const who = holderOf(h, slot)
    const use = h.gpu_utilization?.[slot]
    lines.push(`  GPU${slot}  ${g.name} ${g.memory}GB  ${use === undefined ? `[${(who === null ? 'free' : 'held').padEnd(barWidth - 2)}]` : bar(use, barWidth)}  ${who ?? '-'}`)
  })
  const cpus = h.jobs.reduce((n, j) => n + j.cpus, 0)
  const memory = h.jobs.reduce((n, j) => n + j.memory, 0)
  lines.push(`  CPU ${o.cpus} (${tenths(cpus)} held)   MEM ${tenths(o.memory)}GB (${tenths(memory)}GB held)   DISK ${tenths(o.disk)}GB`)
  for (const j of h.jobs) lines.push(`  job ${j.run === null ? '(another project)' : `${j.run}/${j.job}`}  ${j.status}  ${j.gpus.length > 0 ? `GPU ${j.gpus.join(',')}  ` : ''}${j.cpus} CPU  ${j.memory}GB`)
  if (h.jobs.length === 0) lines.push('  no jobs')
  const kind = busyness(h).kind === 'utilization' ? 'GPU utilization' : o.gpus.length > 0 ? 'GPUs held (no utilization reported)' : 'CPUs held'
  const spark = Math.max(0, Math.min(history.length, width - kind.length - 12))
  lines.push(`  pulse ${sparkline(history, spark)}  ${kind}`)
  for (const w of i.warnings) lines.push(`  ! ${w}`)
  return lines
}

function Fleets (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active } = props
  const watch = useStream(client, 'fleets.watch', null)
  const latest = useRef<HostView[]>([])
  latest.current = watch.last?.hosts ?? []
  const [history, setHistory] = useState<Map<string, number[]>>(new Map())
  // The pulse samples at a steady pace, whether or not anything changed.
  useEffect(() => {
    if (watch.last === undefined) return
    setHistory(h => addSamples(h, latest.current))
    const timer = setInterval(() => setHistory(h => addSamples(h, latest.current)), PULSE_MS)
    return () => clearInterval(timer)
  }, [watch.last === undefined]) // eslint-disable-line react-hooks/exhaustive-deps
  const fleets = watch.last?.fleets ?? []
  const { items, listing } = useMemo(() => fleetRows(fleets, latest.current, history, pulseWidthFor(fleets, latest.current, width)), [watch.last, history, width]) // eslint-disable-line react-hooks/exhaustive-deps
  const detailRoom = Math.max(0, Math.floor(height / 2))
  const tableHeight = Math.max(0, Math.min(items.length + 1, height - detailRoom - 1))
  const { rows, columns, table, selected } = useListingTable(items, listing, {
    filter, height: tableHeight, active, sortable: false, keyOf: r => r.host?.instance.id ?? `fleet:${r.fleet.id}`,
    extra: EXTRA
  })
  let empty = 'Loading fleets…'
  if (watch.error !== null && watch.last === undefined) empty = `fleets: ${watch.error}`
  else if (watch.last !== undefined && items.length === 0) empty = 'No fleets'
  else if (items.length > 0 && rows.length === 0) empty = `No host matches the filter (${items.length} rows)`
  let detail: string[] = []
  if (selected?.host !== undefined) detail = hostLines(selected.host, history.get(selected.host.instance.id) ?? [], width)
  else if (selected !== undefined) {
    const hosts = (watch.last?.hosts ?? []).filter(h => h.instance.fleet === selected.fleet.name)
    detail = [`fleet ${selected.fleet.name}: ${hosts.length} hosts, ${hosts.filter(h => h.reachable).length} reachable, ${hosts.reduce((n, h) => n + h.instance.offer.gpus.length, 0)} GPUs`]
  }
  const room = Math.max(0, height - Math.max(tableHeight, 2) - 1)
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      <Table columns={columns} rows={rows} cells={cellsOf} width={width} height={Math.max(tableHeight, 2)} selected={table.selected} offset={table.offset} empty={empty} focused={active}
        color={r => r.item.host !== undefined && !r.item.host.reachable ? 'red' : undefined} />
      {room > 0 && detail.length > 0 && <Text> </Text>}
      {detail.slice(0, room).map((line, i) => <Text key={i} wrap='truncate' color={i === 0 ? 'cyan' : undefined}>{fit(line, width)}</Text>)}
    </Box>
  )
}

export const fleetsScreen: Screen = {
  name: 'fleets',
  aliases: ['fleet', 'hosts'],
  title: 'Fleets',
  keys: [
    { key: '↑/↓', help: 'select a host: its GPUs, jobs, role and pulse below' }
  ],
  Component: Fleets
}
