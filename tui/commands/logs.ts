// `dstack logs RUN`: the raw output of a job (SPEC §4). --since takes a duration back from now
// (10s, 5m, 1d) or an RFC 3339 time; -d adds what dstackd recorded about the run.
import { parseDuration } from '../../daemon/config/index.ts'
import type { StateEvent } from '../../daemon/api/views.ts'
import { connect, type GlobalOptions } from '../connect.ts'
import { interruptSignal, jobOutput } from '../format.ts'
import { parseFlags, UsageError, wholeNumber } from '../flags.ts'

export const HELP = `Usage: dstack logs RUN [--since 10s|5m|1d|RFC3339] [-f] [-d] [--replica N] [--job N]

Prints a job's output, exactly as it was written.

Options:
      --since WHEN   only output since then: a duration back from now, or an RFC 3339 time
  -f, --follow       keep printing new output until the run ends
  -d, --diagnose     also print what dstackd recorded about the run (placement, statuses, errors)
      --replica N    the replica (default 0)
      --job N        the job within the replica (default 0)
  -h, --help         show this help`

/** `--since`: a duration back from now, or an absolute RFC 3339 time; epoch ms. */
export function sinceOf (value: string, now = Date.now()): number {
  if (/^\d{4}-\d\d-\d\d/.test(value)) {
    const t = Date.parse(value)
    if (Number.isNaN(t)) throw new UsageError(`--since: ${JSON.stringify(value)} is not an RFC 3339 time`)
    return t
  }
  try {
    return now - parseDuration(value) * 1000
  } catch {
    throw new UsageError(`--since: ${JSON.stringify(value)} is neither a duration (10s, 5m, 1d) nor an RFC 3339 time`)
  }
}

const OPTIONS = {
  since: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, diagnose: { type: 'boolean', short: 'd' },
  replica: { type: 'string', check: wholeNumber }, job: { type: 'string', check: wholeNumber }, help: { type: 'boolean', short: 'h' }
} as const

/** Prints what there is and ends (no -f). */
export function oneShot (argv: string[]): boolean {
  return parseFlags(argv, OPTIONS, { positionals: true }).values.follow !== true
}

export async function logs (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, OPTIONS, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  const name = positionals[0]
  if (!name) throw new UsageError('which run? Usage: dstack logs RUN')
  const since = v.since === undefined ? undefined : sinceOf(v.since)
  const client = await connect(g)
  try {
    if (v.diagnose) {
      for await (const e of client.stream('events.list', { run: name })) {
        process.stderr.write(`${new Date(e.at).toISOString()} ${e.kind} ${e.message}\n`)
      }
    }
    const out = jobOutput()
    for await (const chunk of client.stream('logs', {
      run: name, replica: Number(v.replica ?? 0), job: Number(v.job ?? 0), since, follow: v.follow === true
    }, { signal: interruptSignal() })) {
      out.write(Buffer.from(chunk.data, 'base64'))
    }
    out.end()
    return 0
  } finally {
    await client.close()
  }
}
