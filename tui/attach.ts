// Following a run from the terminal: its status until it starts, then its output, then how it
// ended. Ctrl+C asks whether to stop the run before detaching; a second Ctrl+C aborts it.
// Once it runs, its ports are forwarded to localhost and `ssh RUN` reaches it (SPEC §5.5, §5.6).
import type { ApiClient } from '../daemon/api/client.ts'
import type { RunConfiguration } from '../daemon/config/index.ts'
import type { RunView } from '../daemon/api/views.ts'
import { urlOf } from './connect.ts'
import { confirm, jobOutput } from './format.ts'
import { bindPorts, nodeDialer, relay, type BoundPort, type Forwarding, type JobRef, type PortRequest } from './forward.ts'
import { aliasOf, forgetRuns, gatewayOf, writeRunEntries, type Gateway } from './ssh-entries.ts'
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

const IDE_NAMES = { vscode: 'VS Code', cursor: 'Cursor', windsurf: 'Windsurf', zed: 'Zed' } as const

/**
 * dstack's link that opens `alias` (an ssh host) in an IDE: `{vscode|cursor|windsurf}://vscode-remote/ssh-remote+ALIAS/DIR`,
 * `zed://ssh/ALIAS/DIR` (SPEC §5.6).
 */
export function ideLink (ide: keyof typeof IDE_NAMES, alias: string, workingDir: string): string {
  return ide === 'zed' ? `zed://ssh/${alias}${workingDir}` : `${ide}://vscode-remote/ssh-remote+${alias}${workingDir}`
}

/** What a dev environment prints once it can be reached (SPEC §5.6). */
export function devEnvironmentText (ide: keyof typeof IDE_NAMES | null, alias: string, workingDir: string): string {
  const ssh = `To connect via SSH, use: ssh ${alias}\n`
  return ide === null ? ssh : `To open in ${IDE_NAMES[ide]}, use link below:\n\n  ${ideLink(ide, alias, workingDir)}\n\n${ssh}`
}

/**
 * The directory a dev environment's IDE opens: the job's working directory where the client
 * can know it (in a container, /workflow or below); empty otherwise (the IDE asks).
 */
export async function ideWorkingDir (c: RunConfiguration): Promise<string> {
  const { needsContainer } = await import('../daemon/config/index.ts')
  if (!needsContainer(c)) return ''
  const { containerWorkingDir } = await import('../daemon/agent/container.ts')
  return containerWorkingDir(c.working_dir)
}

/** dstack's attach text (SPEC §5.6); `alias` null when the node has no SSH gateway. */
export function attachText (job: JobRef, ports: Forwarding['ports'], alias: string | null, detach: boolean): string {
  const lines = [`Attached to run ${job.run} (replica=${job.replica} job=${job.job})`]
  if (ports.length > 0) {
    lines.push('Forwarded ports (local -> remote):')
    for (const p of ports) lines.push(`  - localhost:${p.local} -> ${p.container}`)
  }
  if (alias !== null) lines.push(`To connect to the run via SSH, use \`ssh ${alias}\`.`)
  if (detach) lines.push('Press Ctrl+C to detach...')
  return lines.join('\n') + '\n'
}

/**
 * Writes the run's SSH entries when the node runs a gateway; returns that gateway and the
 * alias of `job` for `ssh`, or null. A failure is a warning: the run goes on without them.
 */
async function writeEntries (client: ApiClient, run: RunView, job: JobRef): Promise<{ gateway: Gateway, alias: string } | null> {
  try {
    const gateway = await gatewayOf(client, urlOf(client))
    if (gateway === null) return null
    const warning = await writeRunEntries(client, gateway, run)
    if (warning !== null) process.stderr.write(`${warning}\n`)
    return { gateway, alias: aliasOf(run.name, job.replica, job.job) }
  } catch (err) {
    process.stderr.write(red(`\`ssh ${run.name}\` is not set up: ${(err as Error).message}\n`))
    return null
  }
}

/** Writes the run's SSH entries (see writeEntries); the alias `ssh` takes for its first job, or null. */
export async function sshEntries (client: ApiClient, run: RunView): Promise<string | null> {
  return (await writeEntries(client, run, { run: run.name, replica: 0, job: 0 }))?.alias ?? null
}

/**
 * A running job, attached: its SSH entries written and `bound` ports relayed to it, through
 * the node's loopback relay for a local node, through its SSH gateway for an ssh:// one.
 */
export async function attachJob (client: ApiClient, run: RunView, job: JobRef, bound: readonly BoundPort[], signal: AbortSignal): Promise<{ alias: string | null, forwarding: Forwarding }> {
  const entries = await writeEntries(client, run, job)
  if (!urlOf(client).startsWith('ssh://')) return { alias: entries?.alias ?? null, forwarding: relay(bound, nodeDialer(client, job, signal)) }
  if (entries === null) throw new Error(`the ports of ${run.name} cannot be forwarded: the node's SSH gateway is not reachable with this client's key`)
  const { gatewayDialer } = await import('./ssh-dial.ts')
  const dial = await gatewayDialer(entries.gateway, `${entries.gateway.project}/${entries.alias}`, signal)
  return { alias: entries.alias, forwarding: relay(bound, dial) }
}

export interface AttachOptions {
  /** The configuration applied: a dev environment prints how to open it. */
  configuration?: RunConfiguration
  /** Local ports already bound for the run's ports (forwarded once it runs). */
  bound?: readonly BoundPort[]
  /** Local ports to bind once it runs. */
  later?: readonly PortRequest[]
}

/** Streams the run's logs until it ends; returns the process exit code (0 only when done). */
export async function attach (client: ApiClient, name: string, opts: AttachOptions = {}): Promise<number> {
  const controller = new AbortController()
  let forwarding: Forwarding | null = null
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
    if (started && !FINAL.includes(started.status)) {
      process.stderr.write(dim(`${name} provisioning completed (${started.status})\n`))
      const job = { run: name, replica: 0, job: 0 }
      const bound = [...opts.bound ?? [], ...await bindPorts(opts.later ?? [])]
      const attached = await attachJob(client, started, job, bound, controller.signal)
      forwarding = attached.forwarding
      if (forwarding.ports.length > 0 || attached.alias !== null) process.stdout.write(attachText(job, forwarding.ports, attached.alias, false))
      const c = opts.configuration
      if (c?.type === 'dev-environment' && attached.alias !== null) process.stdout.write('\n' + devEnvironmentText(c.ide, attached.alias, await ideWorkingDir(c)))
    }
    const out = jobOutput()
    for await (const chunk of client.stream('logs', { run: name, follow: true }, { signal: controller.signal })) {
      out.write(Buffer.from(chunk.data, 'base64'))
    }
    out.end()
    if (detached) return 0
    const run = await watchUntil(client, name, r => FINAL.includes(r.status), controller.signal)
    if (!run) return detached ? 0 : 1
    // The run is over: so are its `ssh RUN` entries.
    if (forwarding !== null) await forgetRuns(client, urlOf(client), [name])
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
    if (forwarding !== null) forwarding.close()
    else for (const b of opts.bound ?? []) b.server.close()
    controller.abort()
  }
}
