// `dstack stop RUN`: stop (SIGINT, then SIGKILL after the grace) or, with -x, abort at once.
import { FINAL } from '../attach.ts'
import { connect, urlOf, type GlobalOptions } from '../connect.ts'
import { confirm } from '../format.ts'
import { parseFlags, UsageError } from '../flags.ts'
import { forgetRuns } from '../ssh-entries.ts'

export const HELP = `Usage: dstack stop RUN... [-x] [-y]

Stops runs: each job gets SIGINT, then SIGKILL after 10 seconds.

Options:
  -x, --abort   stop at once (SIGKILL), without the grace period
  -y, --yes     do not ask for confirmation
  -h, --help    show this help`

export async function stop (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, { abort: { type: 'boolean', short: 'x' }, yes: { type: 'boolean', short: 'y' }, help: { type: 'boolean', short: 'h' } }, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  if (positionals.length === 0) throw new UsageError('which run? Usage: dstack stop RUN')
  if (!v.yes && !(await confirm(`Are you sure you want to ${v.abort ? 'abort' : 'stop'} the run${positionals.length > 1 ? 's' : ''} ${positionals.join(', ')}?`))) return 1
  const client = await connect(g)
  try {
    // A run that already ended has nothing to stop: say so, not "Stopped".
    const runs = await Promise.all(positionals.map(name => client.call('runs.get', { name })))
    for (const r of runs.filter(r => FINAL.includes(r.status))) console.log(`Run ${r.name} already ended (${r.status_text}): nothing to stop`)
    const active = runs.filter(r => !FINAL.includes(r.status)).map(r => r.name)
    if (active.length === 0) return 0
    await client.call('runs.stop', { names: active, abort: v.abort === true })
    await forgetRuns(client, urlOf(client), active)
    console.log(`${v.abort ? 'Aborted' : 'Stopped'}${active.length < positionals.length ? ` ${active.join(', ')}` : ''}`)
    return 0
  } finally {
    await client.close()
  }
}
