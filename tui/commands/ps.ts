// `dstack ps`: the runs table (SPEC §3.9). Unfinished runs plus the last finished one by
// default; -a all; -n N the last N; -v resources, errors and why a job waits; -w live.
import type { RunView } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { interruptSignal, runHeaders, runRows, table } from '../format.ts'
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

export function psTable (runs: RunView[], verbose: boolean, now = Date.now()): string {
  return table(runHeaders(verbose), runRows(runs, verbose, now).map(r => r.cells))
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
