// `dstack fleet [list]`, `dstack fleet get NAME`: fleets and their instances (SPEC §3.9).
import { parseArgs } from 'node:util'
import type { FleetView } from '../../daemon/api/types.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { ago, price, table } from '../format.ts'

export const HELP = `Usage: dstack fleet [list] [-v] [--json]
       dstack fleet get NAME [--json]

Fleets and their instances. On a single host, the host itself is fleet \`local\`.

Options:
  -v, --verbose   resources per instance and errors
      --json      print JSON
  -h, --help      show this help`

export function fleetTable (fleets: FleetView[], verbose: boolean): string {
  const headers = verbose ? ['NAME', 'NODES', 'RESOURCES', 'SPOT', 'BACKEND', 'PRICE', 'STATUS', 'CREATED', 'ERROR'] : ['NAME', 'NODES', 'GPU', 'SPOT', 'BACKEND', 'PRICE', 'STATUS', 'CREATED']
  const rows: string[][] = []
  for (const f of fleets) {
    const backends = [...new Set(f.instances.map(i => i.backend))].join(', ') || '*'
    rows.push(verbose ? [f.name, String(f.instances.length), '', '', backends, '', f.status, ago(f.created_at), ''] : [f.name, String(f.instances.length), '', '', backends, '', f.status, ago(f.created_at)])
    for (const i of f.instances) {
      const gpu = i.offer.gpus.length ? `${i.offer.gpus[0]!.name}:${i.offer.gpus[0]!.memory}GB:${i.offer.gpus.length}` : '-'
      rows.push(verbose
        ? [`   instance=${i.num}`, '', i.resources, i.offer.spot ? 'spot' : 'no', `${i.backend} (${i.region})`, price(i.offer.price), i.status_text, ago(i.created_at), i.warnings.join('; ')]
        : [`   instance=${i.num}`, '', gpu, i.offer.spot ? 'spot' : 'no', `${i.backend} (${i.region})`, price(i.offer.price), i.status_text, ago(i.created_at)])
    }
  }
  return table(headers, rows)
}

export async function fleet (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { verbose: { type: 'boolean', short: 'v' }, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' }, help: { type: 'boolean', short: 'h' } }
  })
  if (v.help) { console.log(HELP); return 0 }
  const [action = 'list', name] = positionals
  const client = await connect(g)
  try {
    if (action === 'get') {
      if (!name) throw new Error('which fleet? Usage: dstack fleet get NAME')
      const f = await client.call<FleetView>('fleets.get', { name })
      console.log(v.json ? JSON.stringify(f, null, 2) : fleetTable([f], v.verbose === true))
      return 0
    }
    if (action !== 'list') throw new Error(`unknown action ${JSON.stringify(action)}: use list or get (delete lands with the mesh)`)
    const res = await client.call<{ project: string, fleets: FleetView[] }>('fleets.list')
    console.log(v.json ? JSON.stringify(res, null, 2) : fleetTable(res.fleets, v.verbose === true))
    return 0
  } finally {
    await client.close()
  }
}
