// A run described: its status, error, resources and price, each job with its host and, while
// it waits, the scheduler's reason; then the run's events, live.
import { useMemo, type ReactElement } from 'react'
import type { RunDetail, RunView, StateEvent } from '../../../daemon/api/views.ts'
import { ago, price } from '../../format.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { Lines } from '../components/lines.tsx'
import { useCall, useStream, useStreamList } from '../data/stream.ts'
import { useKeys } from '../state/keys.ts'

const time = (ms: number | null) => ms === null ? '-' : `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} (${ago(ms)})`

/** The description's lines: the run (as live as `run`), its jobs, and its events. */
export function describeRun (run: RunView, events: readonly StateEvent[]): string[] {
  const out = [
    `Run         ${run.name}  (${run.type}, project ${run.project}, user ${run.user})`,
    `Status      ${run.status_text}${run.status_text !== run.status ? `  [${run.status}]` : ''}`,
    `Submitted   ${time(run.submitted_at)}`,
    `Finished    ${time(run.finished_at)}`,
    `Resources   ${run.resources}`,
    `Backend     ${run.backend ? `${run.backend} (${run.region})` : '-'}   Price ${price(run.price)}`,
    ...(run.configuration_path ? [`File        ${run.configuration_path}`] : []),
    ...(run.error ? [`Error       ${run.error}`] : []),
    '',
    `Jobs (${run.jobs.length})`
  ]
  for (const j of run.jobs) {
    out.push(`  replica=${j.replica_num} job=${j.job_num}  ${j.job_name}  ${j.status_text}  host ${j.hostname ?? '-'}  ${j.resources}  attempt ${j.submission_num + 1}  submitted ${ago(j.submitted_at)}`)
    if (j.waiting_reason) out.push(`    waiting: ${j.waiting_reason}`)
    if (j.error) out.push(`    error: ${j.error}`)
    if (j.exit_status !== null) out.push(`    exit status: ${j.exit_status}`)
    if (j.limits_note) out.push(`    limits: ${j.limits_note}`)
    if (j.previous) out.push(`    ${j.previous}`)
  }
  out.push('', `Events (${events.length})`)
  for (const e of events) out.push(`  ${new Date(e.at).toISOString().replace('T', ' ').slice(0, 19)}  ${e.kind.padEnd(16)}  ${e.message}`)
  return out
}

function RunDetailView (props: ScreenProps): ReactElement {
  const name = props.arg ?? ''
  const detail = useCall(props.client, 'runs.get', { name })
  const watch = useStream(props.client, 'runs.watch', { name }, { enabled: name !== '' })
  const events = useStreamList(props.client, 'events.list', { run: name, follow: true }, { enabled: name !== '' }).items
  const run: RunView | RunDetail | undefined = watch.last?.runs[0] ?? detail.data
  const lines = useMemo(() => run ? describeRun(run, events) : [], [run, events])
  useKeys((input) => {
    if (input === 'l') props.go({ screen: 'logs', arg: name })
    else if (input === 'y') props.go({ screen: 'yaml', arg: name })
  }, { isActive: props.active })
  const empty = name === '' ? 'which run? :run NAME' : detail.error ?? watch.error ?? 'loading…'
  return <Lines lines={lines} width={props.width} height={props.height} filter={props.filter} active={props.active} empty={empty}
    color={l => l.startsWith('    waiting:') ? 'yellow' : l.startsWith('    error:') || l.startsWith('Error') ? 'red' : undefined} />
}

export const runScreen: Screen = {
  name: 'run',
  aliases: ['describe', 'd'],
  title: 'Run',
  keys: [
    { key: 'l', help: 'logs' },
    { key: 'y', help: 'the configuration as YAML' },
    { key: '↑↓ pgup pgdn g G', help: 'scroll' }
  ],
  Component: RunDetailView
}
