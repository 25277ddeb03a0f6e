// `dstack offer`: what the fleet could run a configuration on (SPEC §3.9).
import { parseArgs } from 'node:util'
import type { OfferView } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { price, table } from '../format.ts'
import { dim } from '../style.ts'

export const HELP = `Usage: dstack offer [--cpu SPEC] [--gpu SPEC] [--memory SPEC] [--disk SPEC] [--max-offers N] [--json]

Lists the offers that match the resources (default: dstack's defaults).

Options:
  --gpu SPEC, --cpu SPEC, --memory SPEC, --disk SPEC   resources, e.g. --gpu A100:80GB:2
  --spot | --on-demand | --spot-auto                    spot policy
  --max-price N                                         the most per hour
  --max-offers N                                        rows shown (default 50)
  --json                                                print {project, user, requirements, offers, total_offers}
  -h, --help                                            show this help`

export async function offer (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      cpu: { type: 'string' }, gpu: { type: 'string' }, memory: { type: 'string' }, disk: { type: 'string' },
      spot: { type: 'boolean' }, 'on-demand': { type: 'boolean' }, 'spot-auto': { type: 'boolean' }, 'max-price': { type: 'string' },
      'max-offers': { type: 'string' }, 'group-by': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
    }
  })
  if (v.help) { console.log(HELP); return 0 }
  const resources: Record<string, string> = {}
  for (const k of ['cpu', 'gpu', 'memory', 'disk'] as const) if (v[k] !== undefined) resources[k] = v[k]!
  const configuration = {
    type: 'task', commands: ['true'], resources,
    spot_policy: v.spot ? 'spot' : v['spot-auto'] ? 'auto' : 'on-demand',
    ...(v['max-price'] !== undefined ? { max_price: v['max-price'] } : {})
  }
  const client = await connect(g)
  try {
    const res = await client.call('offers.list', { configuration })
    if (v.json) { console.log(JSON.stringify(res, null, 2)); return 0 }
    const max = Number(v['max-offers'] ?? 50)
    console.log([` Project      ${res.project}`, ` Resources    ${res.requirements.resources}`, ` Spot policy  ${res.requirements.spot_policy}`, ` Max price    ${res.requirements.max_price === null ? 'off' : price(res.requirements.max_price)}`, ''].join('\n'))
    if (res.offers.length === 0) {
      console.log('No offers match the requirements.')
      for (const r of res.rejected) console.log(dim(`  ${r.instance}: ${r.reason}`))
      return 0
    }
    console.log(table(['#', 'BACKEND', 'RESOURCES', 'INSTANCE TYPE', 'PRICE', ''], res.offers.slice(0, max).map((o, i) => [String(i + 1), `${o.backend} (${o.region})`, o.resources, o.instance_type, price(o.price), o.availability])))
    return 0
  } finally {
    await client.close()
  }
}
