// Offers: what the fleet could run, as `dstack offer` lists it (the same listing), asked again
// whenever the fleets change (a host joins, a job takes or frees its blocks).
import { Box, Text, useInput } from 'ink'
import { useEffect, useState, type ReactElement } from 'react'
import type { OfferList } from '../../../daemon/api/views.ts'
import { offerListing, propertyLine } from '../../listings.ts'
import { price } from '../../format.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { filtered, fit, Note, Rows, useCursor } from './local.tsx'

/** The lines above the offers, as `dstack offer` prints them. */
export function offerHeader (res: OfferList): string[] {
  return ([
    ['Project', res.project], ['Resources', res.requirements.resources], ['Spot policy', res.requirements.spot_policy],
    ['Max price', res.requirements.max_price === null ? 'off' : price(res.requirements.max_price)]
  ] as Array<[string, string]>).map(propertyLine)
}

function Offers (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active } = props
  const [res, setRes] = useState<OfferList | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [asked, setAsked] = useState(0)
  // Asked at once and again at every change of the fleets (where the daemon has fleets.watch).
  useEffect(() => {
    const stop = new AbortController()
    const ask = () => client.call('offers.list').then(r => { if (!stop.signal.aborted) { setRes(r); setError(null) } }, (err: Error) => { if (!stop.signal.aborted) setError(err.message) })
    void (async () => {
      try {
        for await (const _ of client.stream('fleets.watch', null, { signal: stop.signal })) await ask()
      } catch (err) {
        if (!stop.signal.aborted) await ask()
      }
    })()
    return () => stop.abort()
  }, [client, asked])
  useInput(input => { if (input === 'r') setAsked(n => n + 1) }, { isActive: active })
  const listing = filtered(offerListing(res?.offers ?? []), filter)
  const head = res === null ? [] : offerHeader(res)
  const room = Math.max(0, height - head.length - 1)
  const [cursor] = useCursor(listing.rows.length, room - 1, active)
  let body: ReactElement
  if (error !== null && res === null) body = <Note kind='error' width={width} text={`offers: ${error}`} />
  else if (res === null) body = <Note kind='dim' width={width} text='Loading offers…' />
  else if (res.offers.length === 0) {
    body = (
      <Box flexDirection='column'>
        <Note width={width} kind='error' text='No offers match the requirements.' />
        {res.rejected.slice(0, Math.max(0, room - 1)).map(r => <Note key={r.instance} kind='dim' width={width} text={`  ${r.instance}: ${r.reason}`} />)}
      </Box>
    )
  } else if (listing.rows.length === 0) body = <Note kind='dim' width={width} text={`No offer matches the filter (${res.offers.length} offers)`} />
  else body = <Rows listing={listing} width={width} height={room} cursor={cursor} />
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      {head.slice(0, height).map(line => <Text key={line}>{fit(line, width)}</Text>)}
      {height > head.length && <Text> </Text>}
      {body}
    </Box>
  )
}

export const offersScreen: Screen = {
  name: 'offers',
  aliases: ['offer'],
  title: 'Offers',
  keys: [
    { key: '↑/↓ j/k', help: 'move' },
    { key: 'g/G', help: 'first / last offer' },
    { key: 'r', help: 'ask for the offers again' }
  ],
  Component: Offers
}
