// A one-shot command's listing (tui/listings.ts: headers and rows of text) as the app's Table
// takes it: each row keeps the item it shows, the `/` filter matches the row's text (what the
// user sees), and each header becomes a column sorted by its first capital, shifted (k9s).
import type { Key } from 'ink'
import { useMemo, useState } from 'react'
import type { Filter } from '../screen.ts'
import type { Listing } from '../../listings.ts'
import { passes } from '../state/filter.ts'
import { nextSort, sortItems, useTable, type Column, type Sort, type TableState } from '../state/table.ts'

export interface Row<T> { item: T, cells: string[] }

/** `items` beside their listing's rows (the same order), those the filter passes. */
export function rowsOf<T> (items: readonly T[], listing: Listing, filter: Filter): Array<Row<T>> {
  const rows = items.map((item, i) => ({ item, cells: listing.rows[i] ?? [] }))
  return filter.pattern === null ? rows : rows.filter(r => passes(filter, r.cells.join(' ')))
}

/** A column per header; `extra` overrides by title (`{ MESSAGE: { grow: true } }`). */
export function columnsOf<T> (headers: readonly string[], extra: Record<string, Partial<Column<Row<T>>>> = {}): Array<Column<Row<T>>> {
  const taken = new Set<string>()
  return headers.map((title, i) => {
    const letter = title.match(/[A-Z]/)?.[0]
    // G is the table's "last row".
    const sortKey = letter !== undefined && letter !== 'G' && !taken.has(letter) ? letter : undefined
    if (sortKey !== undefined) taken.add(sortKey)
    return { title, ...(sortKey !== undefined ? { sortKey } : {}), sortValue: (r: Row<T>) => r.cells[i] ?? '', ...extra[title] }
  })
}

export const cellsOf = <T>(r: Row<T>): string[] => r.cells

export interface ListingTable<T> {
  rows: Array<Row<T>>
  columns: Array<Column<Row<T>>>
  table: TableState
  sort: Sort | null
  /** The item of the selected row, if any. */
  selected: T | undefined
}

/**
 * A listing's rows filtered and sorted, with the table's selection over them: the screens that
 * show a one-shot command's listing use this. `onKey` sees a key before the table does.
 */
export function useListingTable<T> (items: readonly T[], listing: Listing, opts: {
  filter: Filter, height: number, active: boolean, keyOf?: (item: T) => string,
  extra?: Record<string, Partial<Column<Row<T>>>>, onKey?: (input: string, key: Key) => boolean | void,
  /** False: the rows keep their order (a fleet's instances under it). */
  sortable?: boolean
}): ListingTable<T> {
  const [sort, setSort] = useState<Sort | null>(null)
  const columns = useMemo(() => {
    const all = columnsOf<T>(listing.headers, opts.extra)
    return opts.sortable === false ? all.map(({ sortKey: _, ...c }) => c) : all
  }, [listing.headers.join('\t')]) // eslint-disable-line react-hooks/exhaustive-deps
  const rows = useMemo(() => sortItems(rowsOf(items, listing, opts.filter), columns, sort, (r, c) => r.cells[c] ?? ''), [items, listing, opts.filter, columns, sort])
  const keyOf = opts.keyOf
  const table = useTable<Row<T>>({
    rows,
    columns,
    height: opts.height,
    active: opts.active,
    ...(keyOf !== undefined ? { keyOf: (r: Row<T>) => keyOf(r.item) } : {}),
    // useTable reads its keys through useKeys (state/keys.ts), which calls the handler of the
    // latest render: this one sees the screen's handler and the sort of now.
    onKey: (input, key) => {
      if (opts.onKey?.(input, key) === true) return true
      const next = nextSort(columns, sort, input)
      if (next === null) return false
      setSort(next)
      return true
    }
  })
  return { rows, columns, table, sort, selected: rows[table.selected]?.item }
}
