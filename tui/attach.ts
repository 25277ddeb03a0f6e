// Following a run from the terminal: its status until it starts, then its output, then how it
// ended. Ctrl+C asks whether to stop the run before detaching; a second Ctrl+C aborts it.
import type { ApiClient } from '../daemon/api/client.ts'
import type { RunView } from '../daemon/api/views.ts'
import { confirm, jobOutput } from './format.ts'
import { dim, red } from './style.ts'

/** The statuses a run ends in. */
export const FINAL = ['done', 'failed', 'terminated']

export async function watchUntil (client: ApiClient, name: string, until: (run: RunView) => boolean, signal?: AbortSignal): Promise<RunView | null> {
  for await (const item of client.stream('runs.watch', { name }, { signal })) {
    const run = item.runs[0]
    if (run && until(run)) return run
  }
  return null
}

/** Streams the run's logs until it ends; returns the process exit code (0 only when done). */
export async function attach (client: ApiClient, name: string): Promise<number> {
  const controller = new AbortController()
  let interrupts = 0
  let detached = false
  const onSigint = () => {
    interrupts++
    if (interrupts === 1) {
      void (async () => {
        let stop = true
        if (process.stdin.isTTY) {
          process.stdout.write('\n')
          stop = await confirm('Stop the run before detaching?').catch(() => true)
        }
        if (stop) {
          process.stderr.write(dim(`Stopping ${name}... (Ctrl+C again to abort)\n`))
          await client.call('runs.stop', { names: [name], abort: false }).catch(() => undefined)
        } else {
          detached = true
          process.stderr.write(dim(`Detached. The run goes on: \`dstack logs ${name}\` shows its output, \`dstack stop ${name}\` stops it.\n`))
          controller.abort()
        }
      })()
    } else if (interrupts === 2) {
      process.stderr.write(dim(`Aborting ${name}...\n`))
      void client.call('runs.stop', { names: [name], abort: true }).catch(() => undefined)
    }
  }
  process.on('SIGINT', onSigint)
  try {
    process.stderr.write(dim(`Launching ${name}...\n`))
    let lastStatus = ''
    const started = await watchUntil(client, name, run => {
      if (run.status_text !== lastStatus) {
        lastStatus = run.status_text
        const job = run.jobs[0]
        process.stderr.write(dim(`  ${run.status_text}${job?.waiting_reason ? ` (${job.waiting_reason})` : ''}\n`))
      }
      return run.status === 'running' || FINAL.includes(run.status) || run.status === 'terminating'
    }, controller.signal)
    if (started && !FINAL.includes(started.status)) process.stderr.write(dim(`${name} provisioning completed (${started.status})\n`))
    const out = jobOutput()
    for await (const chunk of client.stream('logs', { run: name, follow: true }, { signal: controller.signal })) {
      out.write(Buffer.from(chunk.data, 'base64'))
    }
    out.end()
    if (detached) return 0
    const run = await watchUntil(client, name, r => FINAL.includes(r.status), controller.signal)
    if (!run) return detached ? 0 : 1
    const job = run.jobs[0]
    if (run.status === 'done') {
      process.stderr.write(dim(`Run ${name} is done (${run.status_text})\n`))
      return 0
    }
    process.stderr.write(red(`Run ${name} ${run.status}: ${run.status_text}${run.error ? ` — ${run.error}` : ''}\n`))
    if (job?.error && job.error !== run.error) process.stderr.write(red(`${job.error}\n`))
    process.stderr.write(`Check \`dstack logs -d ${name}\` for more details.\n`)
    return 1
  } catch (err) {
    if (detached || controller.signal.aborted) return 0
    throw err
  } finally {
    process.off('SIGINT', onSigint)
  }
}
