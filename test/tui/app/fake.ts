// What the app's screen tests use: a stand-in ApiClient (the API is the boundary: a screen
// test checks what a screen draws and asks for, given what the daemon answers), streams the
// test feeds by hand, and a wait on the rendered frame.
import type { ApiClient } from '../../../daemon/api/client.ts'
import type { JobView, RunView } from '../../../daemon/api/views.ts'
import { waitFor } from '../../poll.ts'

export interface FakeStream {
  method: string
  params: any
  push (item: unknown): void
  end (): void
  fail (err: Error & { code?: string }): void
  closed: boolean
}

export interface Fake {
  client: ApiClient
  /** Every unary call made: [method, params]. */
  calls: Array<[string, any]>
  /** Streams opened, newest last. */
  streams: FakeStream[]
  stream (method: string): FakeStream | undefined
}

/** `answers[method]` gives a unary call's result (a function of params, or a value); a missing one fails with not_found. */
export function fakeClient (answers: Record<string, unknown>): Fake {
  const fake: Fake = {
    calls: [],
    streams: [],
    stream: method => [...fake.streams].reverse().find(s => s.method === method && !s.closed),
    client: {
      server: {},
      closed: false,
      async call (method: string, params: unknown) {
        fake.calls.push([method, params])
        const a = answers[method]
        if (a === undefined) throw Object.assign(new Error(`${method}: not answered in this test`), { code: 'not_found' })
        const v = typeof a === 'function' ? await (a as (p: unknown) => unknown)(params) : a
        if (v instanceof Error) throw v
        return v
      },
      stream (method: string, params: unknown, opts?: { signal?: AbortSignal }) {
        const queue: unknown[] = []
        let wake: (() => void) | undefined
        let done = false
        let error: Error | undefined
        const s: FakeStream = {
          method, params, closed: false,
          push: item => { queue.push(item); wake?.() },
          end: () => { done = true; wake?.() },
          fail: err => { error = err; wake?.() }
        }
        fake.streams.push(s)
        opts?.signal?.addEventListener('abort', () => { s.closed = true; wake?.() })
        return (async function * () {
          try {
            for (;;) {
              while (queue.length > 0) yield queue.shift()
              if (error) throw error
              if (done || opts?.signal?.aborted) return
              await new Promise<void>(resolve => { wake = resolve })
            }
          } finally { s.closed = true }
        })()
      },
      async close () {}
    } as unknown as ApiClient
  }
  return fake
}

export function job (over: Partial<JobView> = {}): JobView {
  return {
    id: 'j1', job_num: 0, replica_num: 0, job_name: 'train-0-0', group: null, submission_id: 's1', submission_num: 0,
    status: 'running', status_text: 'running', termination_reason: null, error: null, exit_status: null,
    submitted_at: Date.now() - 5000, started_at: Date.now() - 4000, finished_at: null, hostname: 'host-a', instance: 'host-a',
    resources: 'cpu=2.. mem=8GB.. disk=100GB.. gpu=A100:1', waiting_reason: null, limits_note: null, progress: null, previous: null,
    ...over
  }
}

export function run (name: string, over: Partial<RunView> = {}, jobs: JobView[] = [job()]): RunView {
  return {
    id: `id-${name}`, name, project: 'main', user: 'admin', type: 'task', submitted_at: Date.now() - 5000, finished_at: null,
    status: 'running', status_text: 'running', termination_reason: null, error: null, priority: 0, deployment_num: 0,
    backend: 'local', region: 'local', price: 0, resources: jobs[0]?.resources ?? 'cpu=2..', jobs,
    configuration_path: null, workflow: null, ...over
  }
}

/** Waits until the last frame passes `check` (a string it must contain, or a predicate). */
export async function frameWith (lastFrame: () => string | undefined, check: string | ((f: string) => boolean), what?: string): Promise<string> {
  return await waitFor(() => {
    const f = lastFrame() ?? ''
    return (typeof check === 'string' ? f.includes(check) : check(f)) ? f : undefined
  }, { what: what ?? `a frame with ${String(check)}`, timeout: 10_000, interval: 10 }).catch(err => {
    throw new Error(`${(err as Error).message}\nlast frame:\n${lastFrame()}`)
  })
}

/** A frame as the terminal shows it: without colours. */
export function plain (frame: string | undefined): string {
  return (frame ?? '').replace(/\x1b\[[0-9;]*m/g, '')
}

/** Waits until a predicate over the test's state holds. */
export async function until (fn: () => unknown, what: string): Promise<void> {
  await waitFor(fn, { what, timeout: 10_000, interval: 10 })
}

export const tick = (ms = 60) => new Promise(resolve => setTimeout(resolve, ms))
