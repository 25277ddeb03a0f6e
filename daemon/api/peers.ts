// What nodes ask of each other over the mesh, outside Raft: a job's output, read where the job
// runs and relayed by whichever node a client talks to; and a run's code, fetched by the host
// that runs a job from the node that took the submission. These are the table's `peer`
// methods (methods.ts), served by the same RPC engine as the socket, on one libp2p protocol.
// Peers are members of the private network (they hold the swarm key), but what they send is
// still checked like any input.
import { randomUUID } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, normalize, relative, sep } from 'node:path'
import type { LogChunk, LogsOptions, Runtime } from '../../drivers/runtime/index.ts'
import type { Mesh } from '../../mesh/index.ts'
import type { RpcClient } from '../../mesh/rpc/client.ts'
import { RpcError } from '../../mesh/rpc/protocol.ts'
import { bindMethods, type PeerMethods } from './methods.ts'

/** The libp2p protocol of the peer API: each stream is one session of the RPC engine. */
export const PEER_PROTOCOL = '/dstack/api/1.0.0'

/** One piece of a file per frame: well under the mesh's frame limit once base64'd. */
const CODE_CHUNK = 1024 * 1024

export interface PeerServices {
  /** A job's output, from this host's runtime or relayed from the host that runs it. */
  logs (node: string, submission: string, opts: LogsOptions): AsyncIterable<LogChunk>
  /** Copies a run's code from `node` into `dir` (complete or not at all). */
  fetchCode (node: string, runId: string, dir: string): Promise<void>
  close (): Promise<void>
}

async function * files (root: string, dir = root): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    if (e.isDirectory()) yield * files(root, path)
    else if (e.isFile()) yield relative(root, path)
  }
}

export async function startPeerServices (opts: { mesh: Mesh, runtime: Runtime, dataDir: string }): Promise<PeerServices> {
  const { mesh, runtime, dataDir } = opts
  const codeDir = (runId: string) => join(dataDir, 'code', runId)

  await mesh.serve(PEER_PROTOCOL, bindMethods(['peer'], {
    'peer.logs' (p, ctx) {
      return (async function * () {
        for await (const chunk of runtime.logs(p.submission, { since: p.since ?? undefined, follow: p.follow === true, signal: ctx.signal })) {
          yield { at: chunk.at, offset: chunk.offset, data: chunk.data.toString('base64') }
        }
      })()
    },

    'peer.code' (p) {
      const root = codeDir(p.run)
      return (async function * () {
        if (!await stat(root).then(s => s.isDirectory(), () => false)) return
        for await (const path of files(root)) {
          const fh = await open(join(root, path), 'r')
          try {
            const { mode, size } = await fh.stat()
            const buf = Buffer.alloc(Math.min(CODE_CHUNK, Math.max(size, 1)))
            let offset = 0
            do {
              const { bytesRead } = await fh.read(buf, 0, buf.length, offset)
              yield { path, mode: mode & 0o777, offset, data: buf.subarray(0, bytesRead).toString('base64') }
              offset += bytesRead
              if (bytesRead === 0) break
            } while (offset < size)
          } finally {
            await fh.close()
          }
        }
      })()
    }
  }))

  /** A stream of a peer method on `node`, closing its session when done with. */
  async function * ask<K extends 'peer.logs' | 'peer.code'> (node: string, method: K, params: PeerMethods[K]['params'], signal?: AbortSignal): AsyncGenerator<PeerMethods[K]['result']> {
    const client = await mesh.dial(node, PEER_PROTOCOL, { signal }) as RpcClient<PeerMethods>
    try {
      yield * client.stream(method, params, { signal })
    } finally {
      void client.close()
    }
  }

  return {
    async * logs (node, submission, o) {
      if (node === mesh.peerId) {
        yield * runtime.logs(submission, o)
        return
      }
      const items = ask(node, 'peer.logs', { submission, since: o.since, follow: o.follow === true }, o.signal)
      try {
        for await (const item of items) yield { at: item.at, offset: item.offset, data: Buffer.from(item.data, 'base64') }
      } catch (err) {
        if (o.signal?.aborted) return
        const code = (err as { code?: string }).code
        throw new RpcError(code === 'unreachable' || code === 'timeout' ? 'unavailable' : code ?? 'internal',
          `the job's output is on host ${node}, which did not answer (${(err as Error).message}); it is kept there: try again when the host is back`)
      }
    },

    async fetchCode (node, runId, dir) {
      // Into a temporary folder first: a fetch cut short must not pass for the code.
      const tmp = `${dir}.part-${randomUUID()}`
      try {
        for await (const f of ask(node, 'peer.code', { run: runId })) {
          const path = normalize(String(f.path))
          if (path.startsWith('..') || path.startsWith(sep) || path.includes('\0')) throw new Error(`node ${node} sent a file outside the run's code: ${JSON.stringify(f.path)}`)
          const target = join(tmp, path)
          await mkdir(dirname(target), { recursive: true })
          const fh = await open(target, f.offset === 0 ? 'w' : 'r+', Number.isInteger(f.mode) ? f.mode & 0o777 : 0o644)
          try { await fh.write(Buffer.from(f.data, 'base64'), 0, undefined, f.offset) } finally { await fh.close() }
        }
        await mkdir(tmp, { recursive: true })
        await mkdir(dirname(dir), { recursive: true })
        await rename(tmp, dir).catch(async err => {
          // Another job of the run fetched it first.
          if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        })
      } catch (err) {
        throw new Error(`could not fetch the run's code from node ${node}: ${(err as Error).message}`)
      } finally {
        await rm(tmp, { recursive: true, force: true })
      }
    },

    async close () {
      await mesh.unhandle(PEER_PROTOCOL).catch(() => {})
    }
  }
}
