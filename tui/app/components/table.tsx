// A table that draws only the rows on screen: a header, then `height - 1` rows from `offset`,
// each one line cut to the box (never wider or taller than it), the selected row inverted.
// Its state (selection, scroll, sort) is state/table.ts's.
import { Box, Text } from 'ink'
import { useMemo, type ReactElement } from 'react'
import { columnWidths, type Column, type Sort } from '../state/table.ts'

export interface TableProps<T> {
  columns: readonly Column<T>[]
  rows: readonly T[]
  /** A row's cells, one per column. */
  cells: (row: T) => string[]
  width: number
  height: number
  selected: number
  offset: number
  sort?: Sort | null
  /** Shown instead of rows when there are none ("No runs", "Loading…"). */
  empty?: string
  /** A row's colour (a status's), if any. */
  color?: (row: T) => string | undefined
  /** Whether the selection is shown (the table has the keys). */
  focused?: boolean
}

/** Fits `text` in `width` columns: cut with an ellipsis, padded with spaces. */
export function fit (text: string, width: number, right = false): string {
  if (width <= 0) return ''
  const one = text.replace(/[\r\n\t]+/g, ' ')
  if (one.length > width) return width === 1 ? '…' : one.slice(0, width - 1) + '…'
  return right ? one.padStart(width) : one.padEnd(width)
}

export function Table<T> (props: TableProps<T>): ReactElement {
  const { columns, rows, width, height, offset, selected, sort } = props
  const visible = Math.max(0, height - 1)
  const shown = rows.slice(offset, offset + visible)
  const shownCells = useMemo(() => shown.map(props.cells), [shown.length, offset, rows, props.cells]) // eslint-disable-line react-hooks/exhaustive-deps
  // Widths fit the rows on screen, so scrolling a long list never measures all of it.
  const widths = columnWidths(columns, shownCells, width)
  const line = (cells: string[]) => fit(cells.map((c, i) => fit(c, widths[i]!, columns[i]!.right)).join('  '), width)
  const header = columns.map(c => {
    const arrow = sort && columns[sort.column] === c ? (sort.desc ? '↓' : '↑') : ''
    return c.title + arrow
  })
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      {height > 0 && <Text bold wrap='truncate'>{line(header)}</Text>}
      {rows.length === 0 && props.empty !== undefined && visible > 0 && <Text dimColor wrap='truncate'>{fit(props.empty, width)}</Text>}
      {shownCells.map((cells, i) => {
        const index = offset + i
        const isSelected = index === selected && props.focused !== false
        return (
          <Text key={index} inverse={isSelected} color={props.color?.(shown[i]!)} wrap='truncate'>{line(cells)}</Text>
        )
      })}
    </Box>
  )
}
