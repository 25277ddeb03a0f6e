// Offers: what the fleet could run, as `dstack offer` lists it (the same listing), asked again
// whenever the fleets change (a host joins, a job takes or frees its blocks).
import { Box, Text } from 'ink'
import { useMemo, type ReactElement } from 'react'
import type { OfferList } from '../../../daemon/api/views.ts'
import { offerListing, propertyLine } from '../../listings.ts'
import { price } from '../../format.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { fit, Table } from '../components/table.tsx'
import { cellsOf, useListingTable } from '../components/listing.ts'
import { useCall, useStream } from '../data/stream.ts'

/** The lines above the offers, as `dstack offer` prints them. */
export function offerHeader (res: OfferList): string[] {
  return ([
    ['Project', res.project], ['Resources', res.requirements.resources], ['Spot policy', res.requirements.spot_policy],
    ['Max price', res.requirements.max_price === null ? 'off' : price(res.requirements.max_price)]
  ] as Array<[string, string]>).map(propertyLine)
}

function Offers (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active } = props
  // Asked at once and again at every change of the fleets (a daemon without fleets.watch: once).
  const fleets = useStream(client, 'fleets.watch', null, { retry: false })
  const res = useCall(client, 'offers.list', null, fleets.count)
  const offers = res.data?.offers ?? []
  const listing = useMemo(() => offerListing(offers), [offers])
  const head = res.data === undefined ? [] : [...offerHeader(res.data), '']
  const room = Math.max(0, height - head.length)
  const { rows, columns, table, sort } = useListingTable(offers, listing, {
    filter, height: room, active, extra: { RESOURCES: { grow: true }, PRICE: { right: true, sortValue: r => r.item.price } },
    onKey: input => { if (input === 'r') { res.reload(); return true } }
  })
  let empty = 'Loading offers…'
  if (res.error !== null && res.data === undefined) empty = `offers: ${res.error}`
  else if (res.data !== undefined && offers.length === 0) empty = 'No offers match the requirements.'
  else if (res.data !== undefined && rows.length === 0) empty = `No offer matches the filter (${offers.length} offers)`
  const rejected = res.data !== undefined && offers.length === 0 ? res.data.rejected.map(r => `  ${r.instance}: ${r.reason}`) : []
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      {head.slice(0, height).map((line, i) => <Text key={i} wrap='truncate'>{fit(line, width)}</Text>)}
      {rejected.length > 0
        ? <Box flexDirection='column'>
            <Text color='red' wrap='truncate'>{fit(empty, width)}</Text>
            {rejected.slice(0, Math.max(0, room - 1)).map(line => <Text key={line} dimColor wrap='truncate'>{fit(line, width)}</Text>)}
          </Box>
        : <Table columns={columns} rows={rows} cells={cellsOf} width={width} height={room} selected={table.selected} offset={table.offset} sort={sort} empty={empty} focused={active} />}
    </Box>
  )
}

export const offersScreen: Screen = {
  name: 'offers',
  aliases: ['offer'],
  title: 'Offers',
  keys: [
    { key: 'r', help: 'ask for the offers again' },
    { key: 'B R I P', help: 'sort by backend, resources, instance type, price' }
  ],
  Component: Offers
}
