// `dstack offer`: what the fleet could run a configuration on (SPEC §3.9).
import type { OfferView } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { listOf, nonNegative, parseFlags, UsageError, wholeNumber } from '../flags.ts'
import { price, table } from '../format.ts'
import { offerListing } from '../listings.ts'
import { dim } from '../style.ts'

export const HELP = `Usage: dstack offer [--cpu SPEC] [--gpu SPEC] [--memory SPEC] [--disk SPEC] [--max-offers N] [--group-by gpu[,backend,region,count]] [--json]

Lists the offers that match the resources (default: dstack's defaults).

Options:
  --gpu SPEC, --cpu SPEC, --memory SPEC, --disk SPEC   resources, e.g. --gpu A100:80GB:2
  --spot | --on-demand | --spot-auto                    spot policy
  --max-price N                                         the most per hour
  --max-offers N                                        rows shown (default 50)
  --group-by gpu[,backend,region,count]                 one row per GPU (and backend, region, GPU count)
  --json                                                print {project, user, requirements, offers, total_offers}
  -h, --help                                            show this help`

export async function offer (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v } = parseFlags(argv, {
    cpu: { type: 'string' }, gpu: { type: 'string' }, memory: { type: 'string' }, disk: { type: 'string' },
    spot: { type: 'boolean' }, 'on-demand': { type: 'boolean' }, 'spot-auto': { type: 'boolean' }, 'max-price': { type: 'string', check: nonNegative },
    'max-offers': { type: 'string', check: wholeNumber }, 'group-by': { type: 'string', check: listOf(...GROUP_BY) }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
  })
  if (v.help) { console.log(HELP); return 0 }
  const groupBy = v['group-by'] === undefined ? null : groupingOf(v['group-by'])
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
    if (groupBy) {
      const rows = groupOffers(res.offers, groupBy)
      console.log(rows.length === 0 ? 'No GPU offers match the requirements: --group-by lists GPUs.' : groupTable(rows.slice(0, max), groupBy))
      return 0
    }
    const l = offerListing(res.offers.slice(0, max))
    console.log(table(l.headers, l.rows))
    return 0
  } finally {
    await client.close()
  }
}

const GROUP_BY = ['gpu', 'backend', 'region', 'count'] as const
type Grouping = Set<typeof GROUP_BY[number]>

/** `--group-by`: gpu first among what it groups; region only within a backend (as dstack). */
export function groupingOf (value: string): Grouping {
  const by = new Set(value.split(',').map(s => s.trim())) as Grouping
  if (!by.has('gpu')) throw new UsageError(`--group-by: offers are grouped by GPU first: include gpu, e.g. --group-by gpu,${[...by].join(',')}`)
  if (by.has('region') && !by.has('backend')) throw new UsageError('--group-by: region groups within a backend: add backend, e.g. --group-by gpu,backend,region')
  return by
}

export interface OfferGroup { gpu: string, memory: number, counts: [number, number], spot: Set<boolean>, perGpu: [number, number], backend?: string, region?: string }

/** Offers with GPUs, one group per GPU model (and backend, region, GPU count as asked), cheapest first. */
export function groupOffers (offers: OfferView[], by: Grouping): OfferGroup[] {
  const groups = new Map<string, OfferGroup>()
  for (const { offer: o } of offers) {
    const first = o.gpus[0]
    if (!first) continue
    const n = o.gpus.length
    const each = o.price / n
    const key = JSON.stringify([first.name, first.memory, by.has('count') ? n : null, by.has('backend') ? o.backend : null, by.has('region') ? o.region : null])
    const g = groups.get(key)
    if (!g) {
      groups.set(key, { gpu: first.name, memory: first.memory, counts: [n, n], spot: new Set([o.spot]), perGpu: [each, each], ...(by.has('backend') ? { backend: o.backend } : {}), ...(by.has('region') ? { region: o.region } : {}) })
      continue
    }
    g.counts = [Math.min(g.counts[0], n), Math.max(g.counts[1], n)]
    g.perGpu = [Math.min(g.perGpu[0], each), Math.max(g.perGpu[1], each)]
    g.spot.add(o.spot)
  }
  return [...groups.values()].sort((a, b) => a.perGpu[0] - b.perGpu[0] || a.gpu.localeCompare(b.gpu))
}

/** dstack's grouped table: `# GPU SPOT $/GPU` and BACKEND, REGION where grouped by them. */
export function groupTable (groups: OfferGroup[], by: Grouping): string {
  const range = (lo: string, hi: string) => lo === hi ? lo : `${lo}..${hi}`
  const headers = ['#', 'GPU', 'SPOT', '$/GPU', ...(by.has('backend') ? ['BACKEND'] : []), ...(by.has('region') ? ['REGION'] : [])]
  const rows = groups.map((g, i) => [
    String(i + 1),
    `${g.gpu}:${g.memory}GB:${range(String(g.counts[0]), String(g.counts[1]))}`,
    [...g.spot].sort().map(s => s ? 'spot' : 'on-demand').join(', '),
    range(price(g.perGpu[0]), price(g.perGpu[1])),
    ...(g.backend !== undefined ? [g.backend] : []),
    ...(g.region !== undefined ? [g.region] : [])
  ])
  return table(headers, rows)
}
