// `dstack event`: the audit stream: submissions, placements, status changes, stops.
import type { StateEvent } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { interruptSignal, table } from '../format.ts'
import { eventListing } from '../listings.ts'
import { parseFlags } from '../flags.ts'

export const HELP = `Usage: dstack event [--run NAME] [-w] [--json]

Options:
      --run NAME   only events of this run
  -w, --watch      keep printing new events (Ctrl+C to leave)
      --json       print JSON (one event per line with -w)
  -h, --help       show this help`

const OPTIONS = { run: { type: 'string' }, watch: { type: 'boolean', short: 'w' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const

/** Prints once and ends (no -w). */
export function oneShot (argv: string[]): boolean {
  return parseFlags(argv, OPTIONS).values.watch !== true
}

export async function event (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS)
  if (v.help) { console.log(HELP); return 0 }
  const client = await connect(g)
  try {
    const events: StateEvent[] = []
    for await (const e of client.stream('events.list', { run: v.run, follow: v.watch === true }, { signal: interruptSignal() })) {
      if (v.watch) console.log(v.json ? JSON.stringify(e) : `${new Date(e.at).toISOString()}  ${e.kind.padEnd(16)}  ${e.message}`)
      else events.push(e)
    }
    if (v.watch) return 0
    const l = eventListing(events)
    console.log(v.json ? JSON.stringify({ events }, null, 2) : table(l.headers, l.rows))
    return 0
  } finally {
    await client.close()
  }
}
