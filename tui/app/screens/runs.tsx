// Runs: `dstack ps -v`, live. A row per run and, under a run of several jobs (nodes, replicas),
// one per job. enter describes, l logs, y the configuration, s stops, ctrl+k aborts (asked
// first), x a shell in the job, a attaches; h shows finished runs too (`ps -a`).
import { Box, Text, type Key } from 'ink'
import { useMemo, useState, type ReactElement } from 'react'
import type { RunView } from '../../../daemon/api/views.ts'
import { runHeaders, runRows, type RunRow } from '../../format.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { Table, fit } from '../components/table.tsx'
import { useRuns } from '../data/runs.ts'
import { applyFilter } from '../state/filter.ts'
import { sortItems, useSort, useTable, type Column, type Sort } from '../state/table.ts'
import { Confirm, useConfirm } from '../components/confirm.tsx'

const SORT_KEYS: Record<string, string> = { NAME: 'N', RESOURCES: 'R', 'INSTANCE TYPE': 'I', PRICE: 'P', STATUS: 'S', SUBMITTED: 'A' }

export const RUN_COLUMNS: Column<RunRow>[] = runHeaders(true).map((title, i) => ({
  title,
  sortKey: SORT_KEYS[title],
  grow: title === 'ERROR',
  max: title === 'RESOURCES' ? 40 : undefined,
  ...(title === 'SUBMITTED' ? { sortValue: (r: RunRow) => -(r.job?.submitted_at ?? r.run.submitted_at) } : {}),
  ...(title === 'PRICE' ? { sortValue: (r: RunRow) => r.run.price ?? -1 } : {}),
  ...(i === 0 ? { sortValue: (r: RunRow) => r.run.name } : {})
}))

/** A status's colour: running green, failed red, waiting yellow, finished dim. */
export function statusColor (status: string, text: string): string | undefined {
  if (status === 'running') return 'green'
  if (status === 'failed' || text.startsWith('exited (') && text !== 'exited (0)' || text === 'error') return 'red'
  if (['done', 'terminated', 'aborted'].includes(status)) return 'gray'
  if (['submitted', 'pending', 'provisioning', 'pulling'].includes(status)) return 'yellow'
  return undefined
}

const cellsOf = (r: RunRow) => r.cells

/** The runs' rows, filtered and sorted as whole runs, so a run's job rows stay under it. */
export function runsTableRows (runs: readonly RunView[], filter: ScreenProps['filter'], sort: Sort | null, now = Date.now()): RunRow[] {
  const groups = new Map<RunView, RunRow[]>()
  for (const row of runRows(runs as RunView[], true, now)) {
    const list = groups.get(row.run)
    if (list) list.push(row)
    else groups.set(row.run, [row])
  }
  const kept = applyFilter([...groups.values()], filter, g => g.map(r => r.cells.join(' ')).join('\n'))
  return sortItems(kept, GROUP_COLUMNS, sort, (g, col) => g[0]!.cells[col] ?? '').flat()
}

const GROUP_COLUMNS: Column<RunRow[]>[] = RUN_COLUMNS.map(c => ({ ...c, sortValue: c.sortValue ? (g: RunRow[]) => c.sortValue!(g[0]!) : undefined }))

function RunsView (props: ScreenProps): ReactElement {
  const { client, flash, go, suspend } = props
  const [all, setAll] = useState(false)
  const confirm = useConfirm()
  const { runs, status, error } = useRuns(client, all)
  const sorting = useSort()
  // `SUBMITTED` reads "12 secs ago": made again each second at most.
  const second = Math.floor(Date.now() / 1000)
  const rows = useMemo(() => runsTableRows(runs ?? [], props.filter, sorting.sort), [runs, props.filter, sorting.sort, second]) // eslint-disable-line react-hooks/exhaustive-deps

  const act = (what: string, fn: () => Promise<unknown>): void => {
    fn().catch((err: Error) => flash(`${what}: ${err.message}`, 'error'))
  }
  const onKey = (input: string, key: Key): boolean => {
    if (confirm.confirmKey(input, key)) return true
    if (input === 'h') { setAll(a => !a); flash(all ? 'the active runs and the last finished one' : 'all runs'); return true }
    const row = rows[table.selected]
    if (row === undefined) return false
    const name = row.run.name
    const job = row.nested ? row.job : undefined
    if (key.return) go({ screen: 'run', arg: name })
    else if (input === 'l') go({ screen: 'logs', arg: job ? `${name}:${job.replica_num}:${job.job_num}` : name })
    else if (input === 'y') go({ screen: 'yaml', arg: name })
    else if (input === 'a') act(`attach ${name}`, () => suspend(['dstack', 'attach', name]))
    else if (input === 's' || input === 'x' || (key.ctrl && input === 'k')) {
      if (props.readonly) flash('read-only: stop, abort and shell are disabled', 'error')
      else if (input === 's') {
        flash(`stopping ${name}…`)
        act(`stop ${name}`, async () => { await client.call('runs.stop', { names: [name], abort: false }); flash(`stopping ${name}: asked`) })
      } else if (input === 'x') act(`shell in ${name}`, () => suspend(['ssh', name]))
      else {
        confirm.ask(`Abort ${name}? Its jobs are killed without a grace period.`, () => act(`abort ${name}`, async () => {
          await client.call('runs.stop', { names: [name], abort: true })
          flash(`aborting ${name}: asked`)
        }))
      }
    } else return false
    return true
  }
  const table = useTable<RunRow>({
    rows,
    columns: RUN_COLUMNS,
    height: props.height - 1,
    active: props.active,
    keyOf: r => `${r.run.name}/${r.nested ? `${r.job?.replica_num}/${r.job?.job_num}` : ''}`,
    sorting,
    onKey
  })

  const empty = runs === undefined ? (error ? `error: ${error}` : 'loading runs…') : props.filter.pattern ? 'no run matches the filter' : 'no runs'
  const footer = `${rows.length > 0 ? `${table.selected + 1}/${rows.length}` : ''}${all ? '  all runs' : ''}${status === 'error' && runs !== undefined ? `  reconnecting: ${error}` : ''}`
  return (
    <Box flexDirection='column' width={props.width} height={props.height}>
      <Table
        columns={RUN_COLUMNS} rows={rows} cells={cellsOf} width={props.width} height={props.height - 1}
        selected={table.selected} offset={table.offset} sort={sorting.sort} focused={props.active}
        color={r => r.nested && r.job ? statusColor(r.job.status, r.job.status_text) : statusColor(r.run.status, r.run.status_text)}
        empty={empty}
      />
      {confirm.question !== null
        ? <Confirm question={confirm.question} width={props.width} />
        : <Text dimColor wrap='truncate'>{fit(footer, props.width)}</Text>}
    </Box>
  )
}

export const runsScreen: Screen = {
  name: 'runs',
  aliases: ['ps', 'run-list'],
  title: 'Runs',
  keys: [
    { key: 'enter', help: 'describe the run (jobs, events, why it waits)' },
    { key: 'l', help: 'logs' },
    { key: 'y', help: 'the configuration as YAML' },
    { key: 's', help: 'stop' },
    { key: 'ctrl+k', help: 'abort (asks first)' },
    { key: 'x', help: 'a shell in the job (ssh)' },
    { key: 'a', help: 'attach (ports, output)' },
    { key: 'h', help: 'all runs / active runs and the last finished (ps -a)' },
    { key: 'N R I P S A', help: 'sort by name, resources, instance, price, status, age (again: reverse)' }
  ],
  Component: RunsView
}
