// A session with a project's nodes over SSH that outlives its connection: when the link to a
// node is lost, the next call connects again (the same node first, then the project's other
// nodes, with backoff and a short notice on stderr), and a stream that can resume (resume.ts)
// goes on where it was, without losing or repeating an item. Calls in flight when the link
// went are not sent again: a submission must not happen twice.
import { connectApi, type ApiClient } from '../../daemon/api/client.ts'
import { RPC_ERRORS, RpcError } from '../../mesh/rpc/protocol.ts'
import { sshDialer } from './dial.ts'
import { resumption } from './resume.ts'
import { parseSshUrl } from './url.ts'

export interface RemoteOptions {
  /** The node to use first, then the others of the project (ssh:// URLs). */
  urls: string[]
  token: string
  project?: string
  /** How long one connection attempt may take. Default 10 s. */
  timeoutMs?: number
  /** How long to keep trying to reconnect before giving up. Default 2 minutes. */
  reconnectForMs?: number
  /** Short notices: a pinned key, a lost link, a reconnection (default: stderr). */
  notice?: (text: string) => void
}

/** The codes of a link that went away (as opposed to a refusal or a handler's error). */
const LOST = new Set<string>([RPC_ERRORS.connectionClosed, RPC_ERRORS.unavailable, RPC_ERRORS.unreachable, RPC_ERRORS.timeout])

function isLost (err: unknown): boolean {
  const e = err as RpcError
  return e instanceof RpcError && !e.remote && LOST.has(e.code)
}

const BACKOFF_MS = [100, 250, 500, 1000, 2000, 4000]

export async function connectRemote (opts: RemoteOptions): Promise<ApiClient> {
  const urls = [...new Set(opts.urls)].map(parseSshUrl)
  const notice = opts.notice ?? (text => process.stderr.write(`${text}\n`))
  const timeoutMs = opts.timeoutMs ?? 10_000
  let current = 0
  let closed = false

  /** One pass over the nodes, from the current one: the first session that opens. */
  async function open (pipeline: boolean): Promise<ApiClient> {
    let first: unknown
    for (let i = 0; i < urls.length; i++) {
      const k = (current + i) % urls.length
      const url = urls[k]!
      try {
        const client = await connectApi({
          dial: sshDialer(url, { token: opts.token, notice }),
          token: opts.token,
          project: opts.project,
          timeoutMs,
          pipeline,
          refused: `the node at ${url.text} refused the token: pass the right one with --token or DSTACK_TOKEN`
        })
        current = k
        return client
      } catch (err) {
        if (!isLost(err)) throw err
        first ??= err
      }
    }
    throw first
  }

  let session = await open(true)

  /** The session, connected again (with backoff, over every node) when its link was lost. */
  async function live (): Promise<ApiClient> {
    if (!session.closed) return session
    const lostAt = Date.now()
    for (let attempt = 0; ; attempt++) {
      if (closed) throw new RpcError(RPC_ERRORS.connectionClosed, 'the session was closed')
      try {
        session = await open(false)
        notice(`Reconnected to ${urls[current]!.text}`)
        return session
      } catch (err) {
        if (!isLost(err) || Date.now() - lostAt > (opts.reconnectForMs ?? 120_000)) throw err
        await new Promise(resolve => setTimeout(resolve, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]))
      }
    }
  }

  function lost (err: unknown): void {
    notice(`Lost the connection to ${urls[current]!.text} (${(err as Error).message}); reconnecting...`)
  }

  const client = {
    get server () { return session.server },
    get closed () { return closed },
    async call (method: string, params?: unknown, callOpts?: object) {
      return await (await live() as any).call(method, params, callOpts)
    },
    stream (method: string, params?: unknown, callOpts?: { signal?: AbortSignal }) {
      return (async function * () {
        const resume = resumption(method, params)
        for (;;) {
          const s = await live()
          try {
            for await (const item of (s as any).stream(method, resume?.params() ?? params, callOpts)) {
              const kept = resume === undefined ? item : resume.accept(item)
              if (kept !== undefined) yield kept
            }
            return
          } catch (err) {
            if (resume === undefined || !isLost(err) || callOpts?.signal?.aborted === true || closed) throw err
            lost(err)
          }
        }
      })()
    },
    async close () {
      closed = true
      await session.close()
    }
  }
  return client as unknown as ApiClient
}
