// `dstack ps`: the runs table (SPEC §3.9). Unfinished runs plus the last finished one by
// default; -a all; -n N the last N; -v resources, errors and why a job waits; -w live.
import type { RunView } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { ago, interruptSignal, price, table } from '../format.ts'
import { oneOf, parseFlags, UsageError, wholeNumber } from '../flags.ts'

export const HELP = `Usage: dstack ps [-a] [-v] [-w] [-n N] [--json]

Lists runs: the unfinished ones and the last finished one.

Options:
  -a, --all        all runs
  -n, --last N     the last N runs
  -v, --verbose    resources, instance, errors, and why a job waits
  -w, --watch      keep the table up to date (Ctrl+C to leave)
      --json       print {project, runs} as JSON (not with -w)
  -h, --help       show this help`

/** The GPU part of a resources text; `-` when GPUs are optional or none are asked for. */
function gpuText (resources: string): string {
  const gpu = /gpu=(\S+)/.exec(resources)?.[1]
  return gpu === undefined || gpu === '0..' || gpu === '0' ? '-' : gpu
}

export function psTable (runs: RunView[], verbose: boolean, now = Date.now()): string {
  const headers = verbose
    ? ['NAME', 'BACKEND', 'RESOURCES', 'INSTANCE TYPE', 'PRICE', 'STATUS', 'SUBMITTED', 'ERROR']
    : ['NAME', 'BACKEND', 'GPU', 'PRICE', 'STATUS', 'SUBMITTED']
  const rows: string[][] = []
  for (const run of runs) {
    const backend = run.backend ? `${run.backend} (${run.region})` : '-'
    const single = run.jobs.length === 1
    const job0 = run.jobs[0]
    const error = (j?: RunView['jobs'][number]) => [j?.error ?? run.error, j?.waiting_reason, j?.limits_note, j?.previous].filter(Boolean).join('; ')
    const row = (name: string, status: string, submitted: number, j?: RunView['jobs'][number]) => verbose
      ? [name, j?.hostname ? backend : '-', j?.resources ?? run.resources, j?.hostname ?? '-', price(run.price), status, ago(submitted, now), error(j)]
      : [name, j?.hostname ? backend : '-', gpuText(j?.resources ?? run.resources), price(run.price), status, ago(submitted, now)]
    rows.push(row(run.name, run.status_text, run.submitted_at, single ? job0 : undefined))
    if (!single) {
      const replicas = new Set(run.jobs.map(j => j.replica_num)).size
      for (const j of run.jobs) {
        const label = [replicas > 1 ? `replica=${j.replica_num}` : '', `job=${j.job_num}`, j.group && j.group !== String(j.job_num) ? `group=${j.group}` : ''].filter(Boolean).join(' ')
        rows.push(row(`  ${label}`, j.status_text, j.submitted_at, j))
      }
    }
  }
  return table(headers, rows)
}

const OPTIONS = {
  all: { type: 'boolean', short: 'a' }, last: { type: 'string', short: 'n', check: wholeNumber }, verbose: { type: 'boolean', short: 'v' },
  watch: { type: 'boolean', short: 'w' }, json: { type: 'boolean' }, format: { type: 'string', check: oneOf('table', 'json') }, help: { type: 'boolean', short: 'h' }
} as const

/** Prints once and ends (no -w). */
export function oneShot (argv: string[]): boolean {
  return parseFlags(argv, OPTIONS).values.watch !== true
}

export async function ps (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v } = parseFlags(argv, OPTIONS)
  if (v.help) { console.log(HELP); return 0 }
  if ((v.json || v.format === 'json') && v.watch) throw new UsageError('--json cannot be combined with -w')
  const json = v.json || v.format === 'json'
  const limit = v.last === undefined ? 0 : Number(v.last)
  const client = await connect(g)
  try {
    const list = () => client.call('runs.list', { all: v.all === true, limit })
    if (!v.watch) {
      const res = await list()
      console.log(json ? JSON.stringify(res, null, 2) : psTable(res.runs, v.verbose === true))
      return 0
    }
    for await (const _ of client.stream('runs.watch', {}, { signal: interruptSignal() })) {
      const res = await list()
      process.stdout.write(`\x1b[H\x1b[2J${psTable(res.runs, v.verbose === true)}\n`)
    }
    return 0
  } finally {
    await client.close()
  }
}
