// A table's state apart from its view (components/table.tsx): which row is selected, which
// slice of rows is on screen, and the sort. Pure functions first (tested as tables), then the
// hook that keeps them for a screen and reads its keys.
import { useEffect, useMemo, useRef, useState } from 'react'
import { type Key } from 'ink'
import { useKeys } from './keys.ts'

export interface Column<T> {
  title: string
  /** A fixed width; otherwise the widest of the title and the cells (capped by `max`). */
  width?: number
  max?: number
  /** Takes the width left over (and gives it back first when the box is narrow). */
  grow?: boolean
  /** Right-aligned (numbers, prices). */
  right?: boolean
  /** The key that sorts by this column (k9s style: shift+letter, `N` for NAME); pressed again, reverses. */
  sortKey?: string
  /** What the sort compares; default the cell's text. */
  sortValue?: (row: T) => string | number
}

export interface Sort { column: number, desc: boolean }

/** The sort after `key` is pressed, or null when `key` sorts nothing. */
export function nextSort<T> (columns: readonly Column<T>[], sort: Sort | null, key: string): Sort | null {
  const column = columns.findIndex(c => c.sortKey === key)
  if (column < 0) return null
  return sort?.column === column ? { column, desc: !sort.desc } : { column, desc: false }
}

/** `items` sorted by a column (stable); `cellOf` gives a cell's text where the column has no sortValue. */
export function sortItems<T> (items: readonly T[], columns: readonly Column<T>[], sort: Sort | null, cellOf: (item: T, column: number) => string): T[] {
  if (sort === null) return items as T[]
  const col = columns[sort.column]
  if (col === undefined) return items as T[]
  const value = col.sortValue ?? ((item: T) => cellOf(item, sort.column))
  const keyed = items.map((item, i) => ({ item, i, v: value(item) }))
  keyed.sort((a, b) => {
    const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v), undefined, { numeric: true })
    return (sort.desc ? -c : c) || a.i - b.i
  })
  return keyed.map(k => k.item)
}

/** The first row on screen so that `selected` is visible, moving as little as possible from `offset`. */
export function scrollTo (offset: number, selected: number, visible: number, count: number): number {
  if (visible <= 0 || count <= 0) return 0
  let o = offset
  if (selected < o) o = selected
  if (selected >= o + visible) o = selected - visible + 1
  return Math.max(0, Math.min(o, Math.max(0, count - visible)))
}

/** Each column's width in a box `width` wide: fixed, or fitted to its cells; growers take what is left. */
export function columnWidths<T> (columns: readonly Column<T>[], cells: readonly string[][], width: number, gap = 2): number[] {
  const natural = columns.map((c, i) => {
    if (c.width !== undefined) return c.width
    let w = c.title.length + 2 // room for the sort arrow
    for (const row of cells) w = Math.max(w, row[i]?.length ?? 0)
    return c.max === undefined ? w : Math.min(w, c.max)
  })
  const total = () => natural.reduce((a, b) => a + b, 0) + gap * Math.max(0, columns.length - 1)
  const growers = columns.map((c, i) => c.grow ? i : -1).filter(i => i >= 0)
  let over = total() - width
  // Too wide: growers give back first (down to their title), then every column from the right.
  for (const order of [growers, columns.map((_, i) => columns.length - 1 - i)]) {
    for (const i of order) {
      if (over <= 0) break
      const floor = Math.min(natural[i]!, order === growers ? columns[i]!.title.length + 2 : 1)
      const give = Math.min(over, natural[i]! - floor)
      natural[i]! -= give
      over -= give
    }
  }
  if (over < 0 && growers.length > 0) natural[growers[growers.length - 1]!]! += -over
  return natural
}

export interface TableState {
  selected: number
  offset: number
  sort: Sort | null
  /** Rows that fit under the header. */
  visible: number
  select (index: number): void
  setSort (sort: Sort | null): void
}

export interface Sorting { sort: Sort | null, setSort (sort: Sort | null): void }

/** A sort kept by a screen that sorts groups of rows itself (runs with their jobs). */
export function useSort (initial: Sort | null = null): Sorting {
  const [sort, setSort] = useState<Sort | null>(initial)
  return { sort, setSort }
}

export interface TableOptions<T> {
  rows: readonly T[]
  columns: readonly Column<T>[]
  /** The table's height in lines, its header included. */
  height: number
  /** Keys are read only while true. */
  active: boolean
  /** Keeps the selection on the same row when rows come and go (a run's name). */
  keyOf?: (row: T) => string
  initialSort?: Sort | null
  /** The sort, where the screen keeps it itself (it sorts before it has rows: see useSort). */
  sorting?: Sorting
  /** The screen's own keys; return true when handled. */
  onKey?: (input: string, key: Key) => boolean | void
}

/**
 * The hook a screen with a table uses: the arrows, j/k, PgUp/PgDn (ctrl+b/ctrl+f), g/G
 * (home/end) move the selection; a column's sort key sorts by it. The mouse wheel arrives as
 * arrows (terminal.ts).
 */
export function useTable<T> (opts: TableOptions<T>): TableState {
  const { rows, height, keyOf } = opts
  const [selectedRaw, setSelected] = useState(0)
  const [offsetRaw, setOffset] = useState(0)
  const own = useSort(opts.initialSort ?? null)
  const { sort, setSort } = opts.sorting ?? own
  const selectedKey = useRef<string | undefined>(undefined)
  const visible = Math.max(0, height - 1)
  const count = rows.length

  // Follow the selected row by its key when the rows change under it.
  const selected = useMemo(() => {
    if (keyOf !== undefined && selectedKey.current !== undefined) {
      const at = rows.findIndex(r => keyOf(r) === selectedKey.current)
      if (at >= 0) return at
    }
    return Math.max(0, Math.min(selectedRaw, count - 1))
  }, [rows, selectedRaw, count, keyOf])
  const offset = scrollTo(offsetRaw, selected, visible, count)

  useEffect(() => {
    if (offset !== offsetRaw) setOffset(offset)
  }, [offset, offsetRaw])

  const select = (index: number): void => {
    const i = Math.max(0, Math.min(index, count - 1))
    selectedKey.current = keyOf !== undefined && rows[i] !== undefined ? keyOf(rows[i]!) : undefined
    setSelected(i)
  }

  useKeys((input, key) => {
    if (opts.onKey?.(input, key) === true) return
    const page = Math.max(1, visible - 1)
    if (key.upArrow || input === 'k') select(selected - 1)
    else if (key.downArrow || input === 'j') select(selected + 1)
    else if (key.pageUp || (key.ctrl && input === 'b')) select(selected - page)
    else if (key.pageDown || (key.ctrl && input === 'f')) select(selected + page)
    else if (key.home || input === 'g') select(0)
    else if (key.end || input === 'G') select(count - 1)
    else {
      const next = nextSort(opts.columns, sort, input)
      if (next !== null) setSort(next)
    }
  }, { isActive: opts.active })

  return { selected, offset, sort, visible, select, setSort }
}
