// Projects: the mesh's projects this user is a member of (`projects.list`), the one the app
// talks to marked; enter switches the app to the selected one (the frame reconnects).
import { Box } from 'ink'
import { useMemo, useState, type ReactElement } from 'react'
import { meshProjectListing } from '../../listings.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { Table } from '../components/table.tsx'
import { cellsOf, useListingTable } from '../components/listing.ts'
import { useCall } from '../data/stream.ts'

function Projects (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active, flash } = props
  const [switching, setSwitching] = useState<string | null>(null)
  const list = useCall(client, 'projects.list', null)
  const info = useCall(client, 'server.info', null)
  const current = info.data?.project ?? null
  const projects = list.data?.projects ?? []
  const listing = useMemo(() => meshProjectListing(projects, current), [projects, current])
  const { rows, columns, table, sort, selected } = useListingTable(projects, listing, {
    filter, height, active, keyOf: p => p.name,
    onKey: (input, key) => {
      if (input === 'r') { list.reload(); return true }
      if (!key.return || selected === undefined) return false
      if (selected.name === current) { flash(`already in project ${current}`); return true }
      if (props.switchProject === undefined) { flash('this app cannot switch projects: start it with --project NAME', 'error'); return true }
      if (switching !== null) return true
      setSwitching(selected.name)
      flash(`switching to project ${selected.name}…`)
      props.switchProject(selected.name).then(
        () => { setSwitching(null); flash(`project ${selected.name}`) },
        (err: Error) => { setSwitching(null); flash(`project ${selected.name}: ${err.message}`, 'error') }
      )
      return true
    }
  })
  let empty = 'Loading projects…'
  if (list.error !== null && list.data === undefined) empty = `projects: ${list.error}`
  else if (list.data !== undefined && projects.length === 0) empty = 'No projects: an admin adds them with `dstackd project add NAME`'
  else if (projects.length > 0 && rows.length === 0) empty = `No project matches the filter (${projects.length} projects)`
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      <Table columns={columns} rows={rows} cells={cellsOf} width={width} height={height} selected={table.selected} offset={table.offset} sort={sort} empty={empty} focused={active}
        color={r => r.item.name === current ? 'green' : undefined} />
    </Box>
  )
}

export const projectsScreen: Screen = {
  name: 'projects',
  aliases: ['project'],
  title: 'Projects',
  keys: [
    { key: 'enter', help: 'switch the app to the selected project' },
    { key: 'r', help: 'list the projects again' },
    { key: 'P R M C', help: 'sort by project, role, members, created by' }
  ],
  Component: Projects
}
