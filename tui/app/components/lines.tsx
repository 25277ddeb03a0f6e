// A screen's worth of text lines that scroll and take the `/` filter: what the run's
// description and its YAML show.
import { Box, Text } from 'ink'
import { useMemo, type ReactElement } from 'react'
import type { Filter } from '../screen.ts'
import { applyFilter } from '../state/filter.ts'
import { useScroll } from '../state/scroll.ts'
import { Pager } from './pager.tsx'
import { fit } from './table.tsx'

export interface LinesProps {
  lines: readonly string[]
  width: number
  height: number
  filter: Filter
  active: boolean
  /** Shown when there are no lines (loading, an error). */
  empty: string
  color?: (line: string) => string | undefined
}

export function Lines (props: LinesProps): ReactElement {
  const shown = useMemo(() => applyFilter(props.lines, props.filter, l => l), [props.lines, props.filter])
  const height = Math.max(0, props.height - 1)
  const scroll = useScroll({ count: shown.length, height, active: props.active })
  const end = Math.min(shown.length, scroll.offset + height)
  return (
    <Box flexDirection='column' width={props.width} height={props.height}>
      <Pager line={i => shown[i]!} count={shown.length} offset={scroll.offset} width={props.width} height={height} empty={props.empty}
        color={props.color ? i => props.color!(shown[i]!) : undefined} />
      <Text dimColor wrap='truncate'>{fit(shown.length > height ? `lines ${scroll.offset + 1}-${end} of ${shown.length}` : '', props.width)}</Text>
    </Box>
  )
}
