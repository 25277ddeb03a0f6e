// Events: the audit stream, live (`dstack event -w`'s source, the same listing), newest first.
// `l` opens the logs of the selected event's run.
import { Box } from 'ink'
import { useMemo, useRef, type ReactElement } from 'react'
import type { StateEvent } from '../../../daemon/api/views.ts'
import { eventListing } from '../../listings.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { Table } from '../components/table.tsx'
import { cellsOf, useListingTable } from '../components/listing.ts'
import { useStream } from '../data/stream.ts'

/** The most events kept: older ones leave the screen (`dstack event` has them all). */
export const EVENTS_KEPT = 10_000

function Events (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active, go, flash } = props
  const kept = useRef<StateEvent[]>([])
  const feed = useStream(client, 'events.list', { follow: true }, {
    onOpen: () => { kept.current = [] },
    onItem: e => {
      kept.current = [e, ...kept.current]
      if (kept.current.length > EVENTS_KEPT) kept.current.length = EVENTS_KEPT
    }
  })
  // A new array at each (throttled) render the stream asks for.
  const events = useMemo(() => [...kept.current], [feed.count, feed.status]) // eslint-disable-line react-hooks/exhaustive-deps
  const listing = useMemo(() => eventListing(events), [events])
  const { rows, columns, table, sort, selected } = useListingTable(events, listing, {
    filter, height, active, keyOf: e => String(e.seq), extra: { MESSAGE: { grow: true } },
    onKey: input => {
      if (input !== 'l') return false
      if (selected?.run === undefined) flash('this event is not about a run', 'error')
      else go({ screen: 'logs', arg: selected.run })
      return true
    }
  })
  let empty = 'Waiting for events…'
  if (feed.status === 'error' && events.length === 0) empty = `events: ${feed.error ?? 'failed'}`
  else if (feed.status === 'live' && events.length === 0) empty = 'No events yet'
  else if (events.length > 0 && rows.length === 0) empty = `No event matches the filter (${events.length} events)`
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      <Table columns={columns} rows={rows} cells={cellsOf} width={width} height={height} selected={table.selected} offset={table.offset} sort={sort} empty={empty} focused={active}
        color={r => /fail|error|unreachable|abort/i.test(r.item.kind) ? 'red' : undefined} />
    </Box>
  )
}

export const eventsScreen: Screen = {
  name: 'events',
  aliases: ['event'],
  title: 'Events',
  keys: [
    { key: 'l', help: 'the logs of the selected event\'s run' },
    { key: 'T K M', help: 'sort by time, kind, message' }
  ],
  Component: Events
}
