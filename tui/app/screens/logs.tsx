// Logs: a job's output, followed live, virtualized (only the lines on screen are drawn; the
// `/` filter scans each line once). k9s's keys: 0 tail, 1 head, 2..6 the last 1m/5m/15m/30m/1h;
// f follow, w wrap, t timestamps, r the run's next job (replicas, nodes). A retried job's
// output goes on through its attempts.
import { Box, Text, type Key } from 'ink'
import { useMemo, useRef, useState, type ReactElement } from 'react'
import type { Filter, Screen, ScreenProps } from '../screen.ts'
import { Pager } from '../components/pager.tsx'
import { fit } from '../components/table.tsx'
import { useCall, useStream } from '../data/stream.ts'
import { passes } from '../state/filter.ts'
import { LogBuffer } from '../state/logbuffer.ts'
import { useScroll } from '../state/scroll.ts'

/** `RUN`, or `RUN:REPLICA:JOB` for one job of a run of several. */
export function parseLogTarget (arg: string): { run: string, replica: number, job: number } {
  const m = /^(.*?):(\d+):(\d+)$/.exec(arg)
  return m ? { run: m[1]!, replica: Number(m[2]), job: Number(m[3]) } : { run: arg, replica: 0, job: 0 }
}

/** The keys 2..6: how far back. */
export const WINDOWS: Record<string, { label: string, ms: number }> = {
  2: { label: '1m', ms: 60_000 },
  3: { label: '5m', ms: 300_000 },
  4: { label: '15m', ms: 900_000 },
  5: { label: '30m', ms: 1_800_000 },
  6: { label: '1h', ms: 3_600_000 }
}

/** The indices of the buffer's lines that pass the filter, scanning only lines not seen yet. */
export function useMatches (buffer: LogBuffer, filter: Filter, version: number): { count: number, at: (i: number) => number } {
  const memo = useRef<{ filter: Filter, generation: number, scanned: number, indices: number[] } | null>(null)
  return useMemo(() => {
    if (filter.pattern === null) return { count: buffer.count, at: (i: number) => i }
    let m = memo.current
    if (m === null || m.filter !== filter || m.generation !== buffer.generation) m = memo.current = { filter, generation: buffer.generation, scanned: 0, indices: [] }
    for (; m.scanned < buffer.lines.length; m.scanned++) if (passes(filter, buffer.lines[m.scanned]!.text)) m.indices.push(m.scanned)
    const indices = m.indices
    return { count: indices.length, at: (i: number) => indices[i]! }
  }, [buffer, filter, version]) // eslint-disable-line react-hooks/exhaustive-deps
}

/** With wrapped lines, the first line to draw so that the last ones fill the box. */
export function wrappedEnd (lengthOf: (i: number) => number, count: number, width: number, height: number): number {
  let rows = 0
  for (let i = count - 1; i >= 0; i--) {
    rows += Math.max(1, Math.ceil(lengthOf(i) / Math.max(1, width)))
    if (rows > height) return i + 1
  }
  return 0
}

const stamp = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 23)

function LogsView (props: ScreenProps): ReactElement {
  const target = parseLogTarget(props.arg ?? '')
  const [job, setJob] = useState({ replica: target.replica, job: target.job })
  const [since, setSince] = useState<{ label: string, at: number } | null>(null)
  const [wrap, setWrap] = useState(false)
  const [timestamps, setTimestamps] = useState(false)
  const buffer = useRef(new LogBuffer()).current
  const jobs = useCall(props.client, 'jobs.get', { run: target.run })
  const stream = useStream(props.client, 'logs', { run: target.run, replica: job.replica, job: job.job, follow: true, since: since?.at }, {
    enabled: target.run !== '',
    onOpen: () => buffer.clear(),
    onItem: item => buffer.append(item.data, item.at, item.submission)
  })
  const matches = useMatches(buffer, props.filter, buffer.version)
  const height = Math.max(0, props.height - 1)

  const onKey = (input: string, key: Key): boolean => {
    if (input === 'f') { scroll.setFollow(!scroll.follow); return true }
    if (input === 'w') { setWrap(w => !w); return true }
    if (input === 't') { setTimestamps(t => !t); return true }
    if (input === '0') { setSince(null); scroll.setFollow(true); return true }
    if (input === '1') { setSince(null); scroll.setFollow(false); scroll.scrollTo(0); return true }
    const w = WINDOWS[input]
    if (w !== undefined) { setSince({ label: w.label, at: Date.now() - w.ms }); scroll.setFollow(true); return true }
    if (input === 'r' && jobs.data && jobs.data.length > 1) {
      const list = jobs.data
      const at = list.findIndex(j => j.replica_num === job.replica && j.job_num === job.job)
      const next = list[(at + 1) % list.length]!
      setJob({ replica: next.replica_num, job: next.job_num })
      return true
    }
    void key
    return false
  }
  const scroll = useScroll({ count: matches.count, height, active: props.active, follow: true, onKey })

  const line = (i: number) => {
    const l = buffer.at(matches.at(i))
    return timestamps ? `${stamp(l.at)}  ${l.text}` : l.text
  }
  const several = (jobs.data?.length ?? 0) > 1
  const footer = [
    `${target.run}${several ? ` replica=${job.replica} job=${job.job}` : ''}`,
    `${matches.count}${props.filter.pattern ? ` of ${buffer.count}` : ''} lines`,
    scroll.follow ? 'following' : `at ${scroll.offset + 1}`,
    since ? `last ${since.label}` : 'all',
    wrap ? 'wrap' : '',
    stream.status === 'error' ? `error: ${stream.error}` : stream.status === 'ended' ? 'ended' : stream.status === 'connecting' ? 'connecting…' : ''
  ].filter(Boolean).join(' · ')
  const empty = target.run === '' ? 'which run? :logs RUN' : stream.status === 'error' ? `error: ${stream.error}` : stream.status === 'connecting' ? 'loading…' : props.filter.pattern ? 'no line matches the filter' : 'no output yet'
  return (
    <Box flexDirection='column' width={props.width} height={props.height}>
      <Pager line={line} count={matches.count} offset={wrap && scroll.follow ? wrappedEnd(i => line(i).length, matches.count, props.width, height) : scroll.offset} width={props.width} height={height} wrap={wrap} empty={empty} />
      <Text dimColor wrap='truncate'>{fit(footer, props.width)}</Text>
    </Box>
  )
}

export const logsScreen: Screen = {
  name: 'logs',
  aliases: ['log'],
  title: 'Logs',
  keys: [
    { key: 'f', help: 'follow on/off' },
    { key: '0 / 1', help: 'tail (follow) / head' },
    { key: '2 3 4 5 6', help: 'the last 1m, 5m, 15m, 30m, 1h' },
    { key: 'w', help: 'wrap long lines' },
    { key: 't', help: 'timestamps' },
    { key: 'r', help: "the run's next job (replicas, nodes)" },
    { key: '/', help: 'show only the lines that match' },
    { key: '↑↓ pgup pgdn g G', help: 'scroll (scrolling up stops following)' }
  ],
  Component: LogsView
}
