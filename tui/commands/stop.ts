// `dstack stop RUN`: stop (SIGINT, then SIGKILL after the grace) or, with -x, abort at once.
import { parseArgs } from 'node:util'
import { connect, type GlobalOptions } from '../connect.ts'
import { confirm } from '../format.ts'

export const HELP = `Usage: dstack stop RUN... [-x] [-y]

Stops runs: each job gets SIGINT, then SIGKILL after 10 seconds.

Options:
  -x, --abort   stop at once (SIGKILL), without the grace period
  -y, --yes     do not ask for confirmation
  -h, --help    show this help`

export async function stop (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { abort: { type: 'boolean', short: 'x' }, yes: { type: 'boolean', short: 'y' }, help: { type: 'boolean', short: 'h' } }
  })
  if (v.help) { console.log(HELP); return 0 }
  if (positionals.length === 0) throw new Error('which run? Usage: dstack stop RUN')
  if (!v.yes && !(await confirm(`Are you sure you want to ${v.abort ? 'abort' : 'stop'} the run${positionals.length > 1 ? 's' : ''} ${positionals.join(', ')}?`))) return 1
  const client = await connect(g)
  try {
    await client.call('runs.stop', { names: positionals, abort: v.abort === true })
    console.log(v.abort ? 'Aborted' : 'Stopped')
    return 0
  } finally {
    await client.close()
  }
}
