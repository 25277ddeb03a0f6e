// The frame: header, breadcrumb, `:` jumps with completion, `?` help, the `/` filter (an
// invalid regex is a message, not a crash), esc back, q quit, read-only passed to screens.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createElement as h } from 'react'
import { Text } from 'ink'
import { render, cleanup } from 'ink-testing-library'
import { App } from '../../../tui/app/app.tsx'
import type { Screen, ScreenProps } from '../../../tui/app/screen.ts'
import { fakeClient, frameWith, plain, tick, until } from './fake.ts'

// Screens that show what the frame gave them.
const seen: ScreenProps[] = []
const probe = (name: string, aliases: string[] = []): Screen => ({
  name, aliases, title: name[0]!.toUpperCase() + name.slice(1), keys: [{ key: 'z', help: `${name}'s own key` }],
  Component: (p: ScreenProps) => {
    seen.push(p)
    return h(Text, null, `[${name} arg=${p.arg ?? ''} filter=${p.filter.pattern?.source ?? ''} invert=${p.filter.invert} ro=${p.readonly} active=${p.active} ${p.width}x${p.height}]`)
  }
})
const SCREENS = [probe('runs', ['ps']), probe('logs'), probe('fleets', ['hosts'])]

const INFO = {
  version: '0.1.0', node: 'peer-a', project: 'main', user: 'admin', role: 'leader', index: 1,
  cluster: { role: 'leader', term: 1, leader: 'peer-a', applied: 1, commit: 1, voters: [], learners: [], peers: [{ id: 'peer-a', name: 'host-a', role: 'leader', alive: true, addresses: [] }], addresses: [] }
}

function mount (over: { readonly?: boolean, info?: unknown } = {}) {
  let quits = 0
  const fake = fakeClient({ 'server.info': over.info ?? INFO })
  const r = render(h(App, { client: fake.client, screens: SCREENS, width: 100, height: 12, readonly: over.readonly, suspend: async () => 0, quit: () => { quits++ } }))
  return { ...r, lastFrame: () => plain(r.lastFrame()), quits: () => quits }
}

test.after.each(() => cleanup())

test('header and breadcrumb; the first screen gets the box left and the keys', async () => {
  const r = mount()
  const f = await frameWith(r.lastFrame, 'project main')
  assert.match(f, /node host-a \(leader\) · user admin · leader this node/)
  assert.match(f, /\nRuns\s*\n/)
  assert.match(f, /\[runs arg= filter= invert=false ro=false active=true 100x9\]/)
  assert.match(f, /\? help/)
})

test(': jumps with an argument, tab completes, esc goes back through the breadcrumb', async () => {
  const r = mount()
  await frameWith(r.lastFrame, '[runs')
  r.stdin.write(':')
  await frameWith(r.lastFrame, ':█')
  r.stdin.write('lo')
  r.stdin.write('\t')
  await frameWith(r.lastFrame, ':logs █')
  r.stdin.write('my-run')
  r.stdin.write('\r')
  let f = await frameWith(r.lastFrame, '[logs arg=my-run')
  assert.match(f, /Runs › Logs my-run/)
  r.stdin.write(':hosts\r')
  f = await frameWith(r.lastFrame, '[fleets')
  assert.match(f, /Runs › Logs my-run › Fleets/)
  r.stdin.write('\x1b')
  await frameWith(r.lastFrame, '[logs arg=my-run')
  r.stdin.write('\x1b')
  await frameWith(r.lastFrame, '[runs')
  r.stdin.write(':nothing\r')
  await frameWith(r.lastFrame, ':nothing: no such screen')
})

test('tab with several candidates lists them', async () => {
  const r = mount()
  await frameWith(r.lastFrame, '[runs')
  r.stdin.write(':')
  await tick(20)
  r.stdin.write('\t')
  await frameWith(r.lastFrame, 'fleets hosts logs ps quit runs')
})

test('/ filters (a regex), /! inverts, an invalid regex is an error message, esc clears', async () => {
  const r = mount()
  await frameWith(r.lastFrame, '[runs')
  r.stdin.write('/gpu.*a\r')
  let f = await frameWith(r.lastFrame, 'filter=gpu.*a invert=false')
  assert.match(f, /Runs  \/gpu\.\*a/)
  r.stdin.write('/')
  await frameWith(r.lastFrame, '/gpu.*a█')
  r.stdin.write('\x7f\x7f\x7f\x7f\x7f\x7f')
  r.stdin.write('!done\r')
  await frameWith(r.lastFrame, 'filter=done invert=true')
  r.stdin.write('/(\r')
  f = await frameWith(r.lastFrame, 'Unterminated group')
  assert.match(f, /filter=done invert=true/, 'the last good filter stays')
  r.stdin.write('\x1b')
  await frameWith(r.lastFrame, 'filter= invert=false')
})

test('? lists the screen\'s keys and the global ones; any key closes; screens are inactive meanwhile', async () => {
  const r = mount()
  await frameWith(r.lastFrame, '[runs')
  r.stdin.write('?')
  const f = await frameWith(r.lastFrame, "runs's own key")
  assert.match(f, /jump to a screen/)
  r.stdin.write('x')
  await frameWith(r.lastFrame, 'active=true')
  r.stdin.write(':')
  await frameWith(r.lastFrame, 'active=false')
})

test('q and ctrl+c quit; read-only is passed down', async () => {
  const r = mount({ readonly: true })
  await frameWith(r.lastFrame, 'ro=true')
  assert.match(r.lastFrame(), /\[read-only\]/)
  r.stdin.write('q')
  await until(() => r.quits() === 1, 'q to quit')
  r.stdin.write('\x03')
  await until(() => r.quits() === 2, 'ctrl+c to quit')
})

test('a daemon that does not answer server.info: the header says why', async () => {
  const r = mount({ info: Object.assign(new Error('no dstackd is running here'), { code: 'unavailable' }) })
  await frameWith(r.lastFrame, 'dstack · no dstackd is running here')
})

test.run()
