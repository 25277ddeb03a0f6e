// `dstack fleet [list]`, `dstack fleet get NAME`: fleets and their instances (SPEC §3.9);
// `dstack fleet delete NAME -i N…`: hosts out of the mesh fleet.
import type { FleetView } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { confirm, table } from '../format.ts'
import { fleetListing } from '../listings.ts'
import { parseFlags, UsageError, wholeNumber } from '../flags.ts'

export const HELP = `Usage: dstack fleet [list] [-v] [--json]
       dstack fleet get NAME [--json]
       dstack fleet delete NAME -i NUM [-i NUM]... [-y]

Fleets and their instances. The hosts of the mesh are fleet \`local\`.

delete takes hosts out of the mesh for good: their jobs end (instance_unreachable, so runs
retry by policy), they leave Raft and no host talks to them again. Use it for a host that is
gone, or stop dstackd on it first. A deleted host comes back only by joining again with a
fresh data dir. The mesh fleet itself cannot be deleted.

Options:
  -i, --instance NUM  the instance to delete (the number in \`dstack fleet get NAME\`); repeatable
  -y, --yes           do not ask for confirmation
  -v, --verbose       resources, container engine per instance, and errors
      --json          print JSON
  -h, --help          show this help`

export function fleetTable (fleets: FleetView[], verbose: boolean): string {
  const l = fleetListing(fleets, verbose)
  return table(l.headers, l.rows)
}

export async function fleet (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, {
    verbose: { type: 'boolean', short: 'v' }, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' }, help: { type: 'boolean', short: 'h' },
    instance: { type: 'string', short: 'i', multiple: true, check: wholeNumber }, yes: { type: 'boolean', short: 'y' }
  }, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  const [action = 'list', name] = positionals
  if (action === 'delete') return await remove(name, v.instance ?? [], v.yes === true, g)
  const client = await connect(g)
  try {
    if (action === 'get') {
      if (!name) throw new UsageError('which fleet? Usage: dstack fleet get NAME')
      const f = await client.call('fleets.get', { name })
      console.log(v.json ? JSON.stringify(f, null, 2) : fleetTable([f], v.verbose === true))
      return 0
    }
    if (action !== 'list') throw new UsageError(`unknown action ${JSON.stringify(action)}: use list, get or delete`)
    const res = await client.call('fleets.list')
    console.log(v.json ? JSON.stringify(res, null, 2) : fleetTable(res.fleets, v.verbose === true))
    return 0
  } finally {
    await client.close()
  }
}

async function remove (name: string | undefined, instances: string[], yes: boolean, g: GlobalOptions): Promise<number> {
  if (!name) throw new UsageError('which fleet? Usage: dstack fleet delete NAME -i NUM')
  const nums = instances.map(Number)
  const what = nums.length === 0 ? `the fleet ${name} (an SSH fleet: its daemons stop and what was installed is removed)` : `the instance${nums.length > 1 ? 's' : ''} ${nums.join(', ')} of fleet ${name}`
  if (!yes && !(await confirm(`Delete ${what}?`))) return 1
  const client = await connect(g)
  try {
    const res = await client.call('fleets.delete', { name, instances: nums })
    console.log(res.deleted.length > 0 ? `Deleted ${res.deleted.join(', ')}` : `Deleted the fleet ${name}`)
    for (const e of res.errors ?? []) console.error(e)
    return res.errors?.length ? 1 : 0
  } finally {
    await client.close()
  }
}
