// The Projects screen: the mesh's projects of this user, the current one marked, enter switches.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ProjectView } from '../../../daemon/api/users.ts'
import { projectsScreen } from '../../../tui/app/screens/projects.tsx'
import { fakeClient, KEY, mount, press, until } from './screen-fake.ts'

const project = (name: string, role: ProjectView['role'] = 'user'): ProjectView => ({ name, created_at: Date.now() - 3_600_000 * 3, created_by: 'admin', role, members: [{ user: 'admin', role: 'admin' }, { user: 'ann', role }] })
const info = (p: string) => ({ version: '0.1.0', node: 'n', project: p, user: 'ann', role: 'leader', index: 1, cluster: {} })

function client (current = 'main', projects = [project('main', 'admin'), project('team')]) {
  return fakeClient({ 'projects.list': () => ({ projects }), 'server.info': () => info(current) })
}

test('the projects, the current one marked', async () => {
  const m = mount(projectsScreen, { client: client() })
  const frame = await until(m, f => f.includes('team'), 'the projects')
  assert.match(frame, /PROJECT\s+ROLE\s+MEMBERS\s+CREATED BY\s+CREATED\s+CURRENT/)
  assert.match(frame, /main\s+admin\s+2\s+admin\s+3 hours ago\s+✓/)
  assert.not.match(frame.split('\n').find(l => l.includes('team'))!, /✓/)
  m.unmount()
})

test('enter switches to the selected project through the frame; the current one says so', async () => {
  const switched: string[] = []
  const m = mount(projectsScreen, { client: client(), switchProject: async name => { switched.push(name) } })
  await until(m, f => f.includes('✓'), 'the projects')
  await press(m, KEY.enter)
  await until(m, () => m.flashes.length > 0, 'a flash')
  assert.is(m.flashes[0]!.text, 'already in project main')
  await press(m, 'j')
  await press(m, KEY.enter)
  await until(m, () => switched.length > 0, 'a switch')
  assert.equal(switched, ['team'])
  await until(m, () => m.flashes.some(f => f.text === 'project team'), 'the switch reported')
  m.unmount()
})

test('a refused switch is an error; a frame that cannot switch says what to do', async () => {
  const m = mount(projectsScreen, { client: client(), switchProject: async name => { throw new Error(`project ${name}: not found or you are not a member`) } })
  await until(m, f => f.includes('team'), 'the projects')
  await press(m, 'j')
  await press(m, KEY.enter)
  await until(m, () => m.flashes.some(f => f.kind === 'error'), 'the refusal')
  assert.match(m.flashes.find(f => f.kind === 'error')!.text, /not a member/)
  m.unmount()
  const n = mount(projectsScreen, { client: client() })
  await until(n, f => f.includes('team'), 'the projects')
  await press(n, 'j')
  await press(n, KEY.enter)
  await until(n, () => n.flashes.some(f => f.kind === 'error'), 'the message')
  assert.match(n.flashes[0]!.text, /--project NAME/)
  n.unmount()
})

test('filter, empty, loading and error states', async () => {
  const m = mount(projectsScreen, { client: client(), filter: { pattern: /^team/, invert: false } })
  const frame = await until(m, f => f.includes('team'), 'the filtered projects')
  assert.not.match(frame, /main\s+admin/)
  m.rerender({ filter: { pattern: /nope/, invert: false } })
  await until(m, f => f.includes('No project matches the filter (2 projects)'), 'no match')
  m.unmount()
  const e = mount(projectsScreen, { client: client('main', []) })
  await until(e, f => f.includes('No projects'), 'the empty state')
  e.unmount()
  let answer = (_: unknown) => {}
  const slow = fakeClient({ 'projects.list': () => new Promise(resolve => { answer = resolve }), 'server.info': () => info('main') })
  const l = mount(projectsScreen, { client: slow })
  await until(l, f => f.includes('Loading projects'), 'loading')
  l.unmount()
  const failing = fakeClient({ 'projects.list': () => { throw new Error('the daemon at /x refused the token') }, 'server.info': () => info('main') })
  const f = mount(projectsScreen, { client: failing })
  await until(f, fr => fr.includes('projects: the daemon at /x refused the token'), 'the error')
  f.unmount()
})

test.run()
