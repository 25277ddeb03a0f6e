// Lines of text in a box, from line `offset` down, drawing only what fits: cut at the box's
// width, or wrapped (a long line then takes several rows; still only the rows on screen are
// made). The Logs screen and the detail screens use it.
import { Box, Text } from 'ink'
import type { ReactElement } from 'react'
import { fit } from './table.tsx'

export interface PagerProps {
  /** The line at index i (lines may be many: only those on screen are asked for). */
  line: (i: number) => string
  count: number
  offset: number
  width: number
  height: number
  wrap?: boolean
  /** A line's colour, if any. */
  color?: (i: number) => string | undefined
  empty?: string
}

/** The screen rows of lines from `offset`: at most `height`, each at most `width` wide. */
export function pageRows (line: (i: number) => string, count: number, offset: number, width: number, height: number, wrap: boolean): Array<{ index: number, text: string }> {
  const rows: Array<{ index: number, text: string }> = []
  if (width <= 0) return rows
  for (let i = Math.max(0, offset); i < count && rows.length < height; i++) {
    const text = line(i)
    if (!wrap || text.length <= width) { rows.push({ index: i, text: fit(text, width) }); continue }
    for (let at = 0; at < text.length && rows.length < height; at += width) rows.push({ index: i, text: fit(text.slice(at, at + width), width) })
  }
  return rows
}

export function Pager (props: PagerProps): ReactElement {
  const rows = pageRows(props.line, props.count, props.offset, props.width, props.height, props.wrap === true)
  return (
    <Box flexDirection='column' width={props.width} height={props.height} overflow='hidden'>
      {props.count === 0 && props.empty !== undefined && <Text dimColor wrap='truncate'>{fit(props.empty, props.width)}</Text>}
      {rows.map((r, k) => <Text key={k} color={props.color?.(r.index)} wrap='truncate'>{r.text}</Text>)}
    </Box>
  )
}
