// JobAccess (types.ts): what the SSH gateway hands every shell, command, sftp and port forward
// into a job. A job on this host is reached through its runtime (local.ts); a job elsewhere
// through that host's dstackd (relay.ts for exec, api/ports.ts for ports), so any node is an
// entry point. Sessions are counted on the job's host, where its inactivity is judged.
import type { Duplex } from 'node:stream'
import type { LocalExec } from './local.ts'
import type { ExecRelay } from './relay.ts'
import type { JobAccess } from './types.ts'

export interface JobAccessOptions {
  /** This host's peer id: a target on it runs here. */
  self: string
  /** Runs a request inside a job of this host (localExec). */
  local: LocalExec
  /** Runs a request inside a job of another host (startExecRelay). */
  relay: Pick<ExecRelay, 'exec'>
  /** A byte stream to a job's port wherever it runs (api/ports.ts PortRelay.connect). */
  connect: (node: string, submission: string, port: number) => Promise<Duplex>
}

export function createJobAccess (opts: JobAccessOptions): JobAccess {
  return {
    async exec (target, request) {
      if (request.subsystem !== undefined && request.command !== undefined) throw new Error('a session runs a command or a subsystem, not both')
      return target.node === opts.self
        ? await opts.local(target.job, request)
        : await opts.relay.exec(target.node, target.job, request)
    },
    async forward (target, port) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port}: expected 1 to 65535`)
      return await opts.connect(target.node, target.job, port)
    }
  }
}
