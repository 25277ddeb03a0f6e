// The SSH backend's face: bring hosts into the mesh (connect → check → upload → start → joined)
// and take them out again, every host on its own, so one bad host never holds up the others.
import type { HostFacts, Progress, SshTarget } from './types.ts'
import { HostError, hostLabel } from './types.ts'
import { connectHost, type Connection } from './connect.ts'
import { checkHost, hostProblems } from './check.ts'
import { hasBundle, installDir, startDaemon, uninstall, uploadBundle, waitReady } from './install.ts'

export type { HostFacts, Progress, SshTarget, Stage } from './types.ts'
export { HostError, hostLabel } from './types.ts'

export interface SshBackendOptions {
  /** The bundle to install (scripts/bundle-dstackd.js): its tarball and content hash. */
  bundle: () => Promise<{ path: string, hash: string }>
  /** Resolves when the mesh has registered the node of that peer id in the fleet. */
  joined: (peerId: string, signal: AbortSignal) => Promise<void>
  /** Per-host connection timeout. Default 15 s. */
  connectTimeoutMs?: number
}

export interface HostOutcome {
  host: string
  ok: boolean
  /** The node's peer id, when it started. */
  peerId?: string
  facts?: HostFacts
  error?: string
}

export interface SshBackend {
  /** Provisions every host in parallel; resolves when each has joined or failed. */
  provision (fleet: string, hosts: SshTarget[], joinToken: string, onProgress: (p: Progress) => void, signal?: AbortSignal): Promise<HostOutcome[]>
  /** Stops dstackd on each host and removes what was installed there. */
  remove (fleet: string, hosts: SshTarget[], onProgress: (p: Progress) => void): Promise<HostOutcome[]>
}

async function withConnection<T> (t: SshTarget, timeoutMs: number | undefined, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await connectHost(t, timeoutMs)
  try {
    return await fn(c)
  } finally {
    c.close()
  }
}

function failure (host: string, err: unknown): string {
  const e = err as Error
  return e instanceof HostError ? e.message : `${host}: ${e.message}`
}

export function sshBackend (opts: SshBackendOptions): SshBackend {
  async function provisionOne (fleet: string, t: SshTarget, token: string, report: (p: Omit<Progress, 'host'>) => void, signal: AbortSignal): Promise<HostOutcome> {
    const host = hostLabel(t)
    report({ stage: 'connecting' })
    return await withConnection(t, opts.connectTimeoutMs, async ({ client }) => {
      report({ stage: 'checking' })
      const facts = await checkHost(client)
      const problems = hostProblems(facts, t.user)
      if (problems.length > 0) throw new HostError(host, problems.join('; '))
      const dir = installDir(facts.home, fleet)
      const bundle = await opts.bundle()
      if (await hasBundle(client, dir, bundle.hash)) {
        report({ stage: 'uploading', percent: 100, message: 'bundle already there' })
      } else {
        report({ stage: 'uploading', percent: 0 })
        await uploadBundle(client, dir, bundle, percent => report({ stage: 'uploading', percent }))
      }
      report({ stage: 'starting' })
      const offset = await startDaemon(client, { dir, hash: bundle.hash, fleet, joinToken: token, listen: t.internalIp, facts, user: t.user })
      const peerId = await waitReady(client, dir, offset)
      await opts.joined(peerId, signal)
      report({ stage: 'joined', message: peerId })
      return { host, ok: true, peerId, facts }
    })
  }

  return {
    async provision (fleet, hosts, token, onProgress, signal = new AbortController().signal) {
      return await Promise.all(hosts.map(async t => {
        const host = hostLabel(t)
        try {
          return await provisionOne(fleet, t, token, p => onProgress({ host, ...p }), signal)
        } catch (err) {
          const error = failure(host, err)
          onProgress({ host, stage: 'failed', message: error })
          return { host, ok: false, error }
        }
      }))
    },
    async remove (fleet, hosts, onProgress) {
      return await Promise.all(hosts.map(async t => {
        const host = hostLabel(t)
        try {
          onProgress({ host, stage: 'stopping' })
          await withConnection(t, opts.connectTimeoutMs, async ({ client }) => {
            const facts = await checkHost(client)
            await uninstall(client, installDir(facts.home, fleet), fleet, facts)
          })
          onProgress({ host, stage: 'removed' })
          return { host, ok: true }
        } catch (err) {
          const error = failure(host, err)
          onProgress({ host, stage: 'failed', message: error })
          return { host, ok: false, error }
        }
      }))
    }
  }
}
