// The runs the Runs screen shows, kept live: `runs.watch` says when anything about the active
// runs changed; each change (coalesced) fetches the list `dstack ps` shows (`runs.list`: the
// active runs and the last finished one, or all with `all`), so a run that just finished stays.
import { useEffect, useState } from 'react'
import type { ApiClient } from '../../../daemon/api/client.ts'
import type { RunView } from '../../../daemon/api/views.ts'
import { useStream, type StreamStatus } from './stream.ts'

export interface RunsState {
  runs: RunView[] | undefined
  status: StreamStatus
  error: string | null
}

export function useRuns (client: ApiClient, all: boolean): RunsState {
  const watch = useStream(client, 'runs.watch', {})
  const [list, setList] = useState<{ runs: RunView[] | undefined, error: string | null }>({ runs: undefined, error: null })
  const tick = watch.last?.index
  useEffect(() => {
    if (watch.status !== 'live') return
    let live = true
    client.call('runs.list', { all, limit: 0 }).then(
      res => { if (live) setList({ runs: res.runs, error: null }) },
      (err: Error) => { if (live) setList(s => ({ runs: s.runs, error: err.message })) }
    )
    return () => { live = false }
  }, [client, all, tick, watch.status, watch.last])
  return { runs: list.runs, status: watch.status, error: watch.error ?? list.error }
}
