// `dstack attach RUN` (SPEC §5.5): forwards a running job's ports to localhost, writes its
// `ssh RUN` entries and, with --logs, streams its output; Ctrl+C detaches (the run goes on).
import { parsePortMapping } from '../../daemon/config/index.ts'
import { attachJob, attachText, FINAL, watchUntil } from '../attach.ts'
import { connect, urlOf, type GlobalOptions } from '../connect.ts'
import { jobOutput } from '../format.ts'
import { bindPorts, portRequests } from '../forward.ts'
import { parseFlags, UsageError, wholeNumber } from '../flags.ts'
import { forgetRuns } from '../ssh-entries.ts'
import { dim, red } from '../style.ts'

export const HELP = `Usage: dstack attach RUN [--logs] [-p MAP ...] [--replica N] [--job N]

Attaches to a running run: forwards its ports to localhost (the same port when free, else the
next free one), writes its \`ssh RUN\` entry into ~/.dstack/ssh/config (included from
~/.ssh/config) and waits. Ctrl+C detaches; the run goes on, and \`ssh RUN\` keeps working
while it lives.

Options:
      --logs         stream the job's output while attached
  -p, --port MAP     forward a port of the run to this local port, e.g. 8081:8080 or *:8080
                     (repeatable; a local port given must be free)
      --replica N    the replica (default 0)
      --job N        the job within the replica (default 0)
  -h, --help         show this help`

const OPTIONS = {
  logs: { type: 'boolean' },
  port: { type: 'string', short: 'p', multiple: true },
  replica: { type: 'string', check: wholeNumber },
  job: { type: 'string', check: wholeNumber },
  help: { type: 'boolean', short: 'h' }
} as const

export async function attachCommand (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, OPTIONS, { positionals: true })
  if (v.help) { console.log(HELP); return 0 }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which run? Usage: dstack attach RUN' : `one run at a time, got ${positionals.join(' ')}`)
  const name = positionals[0]!
  let overrides
  try {
    overrides = (v.port ?? []).map(p => parsePortMapping(p))
  } catch (err) {
    throw new UsageError(`--port: ${(err as Error).message}`)
  }
  const job = { run: name, replica: Number(v.replica ?? 0), job: Number(v.job ?? 0) }
  const client = await connect(g)
  const controller = new AbortController()
  const onSigint = () => controller.abort()
  process.on('SIGINT', onSigint)
  try {
    const detail = await client.call('runs.get', { name })
    if (!detail.jobs.some(j => j.replica_num === job.replica && j.job_num === job.job)) {
      throw new Error(`run ${name} has no job ${job.job} in replica ${job.replica}`)
    }
    if (FINAL.includes(detail.status)) throw new Error(`run ${name} has ended (${detail.status_text}): nothing to attach to`)
    const c = detail.configuration
    const bound = await bindPorts(portRequests('ports' in c ? c.ports : [], overrides, name))
    let running
    try {
      if (detail.status !== 'running') process.stderr.write(dim(`Waiting for ${name} to start (${detail.status_text})...\n`))
      running = await watchUntil(client, name, r => r.status === 'running' || r.status === 'terminating' || FINAL.includes(r.status), controller.signal)
    } catch (err) {
      for (const b of bound) b.server.close()
      if (controller.signal.aborted) return 0
      throw err
    }
    if (running === null || running.status !== 'running') {
      for (const b of bound) b.server.close()
      if (controller.signal.aborted) return 0
      process.stderr.write(red(`Run ${name} ${running?.status ?? 'ended'}${running ? `: ${running.status_text}` : ''}\n`))
      return 1
    }
    const { alias, forwarding } = await attachJob(client, running, job, bound, controller.signal)
    try {
      process.stdout.write(attachText(job, forwarding.ports, alias, true))
      if (v.logs === true) {
        const out = jobOutput()
        for await (const chunk of client.stream('logs', { run: name, replica: job.replica, job: job.job, follow: true }, { signal: controller.signal })) {
          out.write(Buffer.from(chunk.data, 'base64'))
        }
        out.end()
      }
      const ended = await watchUntil(client, name, r => FINAL.includes(r.status), controller.signal)
      if (ended === null) return 0
      process.stderr.write(dim(`Run ${name} ended (${ended.status_text})\n`))
      // The run is over: so are its entries.
      await forgetRuns(client, urlOf(client), [name])
      return ended.status === 'done' ? 0 : 1
    } catch (err) {
      if (controller.signal.aborted) return 0
      throw err
    } finally {
      forwarding.close()
    }
  } finally {
    process.off('SIGINT', onSigint)
    controller.abort()
    await client.close()
  }
}
