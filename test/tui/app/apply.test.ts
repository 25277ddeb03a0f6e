// The Apply screen: the finder over the working directory, mistakes at their lines, the plan
// as dstack apply prints it, confirm, and on to the run's logs; nothing in read-only mode.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Plan } from '../../../daemon/api/views.ts'
import { applyScreen } from '../../../tui/app/screens/apply.tsx'
import { findConfigurations } from '../../../tui/app/data/configurations.ts'
import { fuzzyFilter } from '../../../tui/app/state/fuzzy.ts'
import { fakeClient, KEY, mount, press, until } from './screen-fake.ts'

let dir = ''
const home = process.cwd()

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dstack-apply-screen-'))
  await mkdir(join(dir, 'hello'))
  await mkdir(join(dir, 'node_modules', 'x'), { recursive: true })
  await writeFile(join(dir, 'hello', '.dstack.yml'), 'type: task\nname: hello\ncommands:\n  - echo hi\n')
  await writeFile(join(dir, 'train.dstack.yml'), 'type: task\nname: train\ncommands:\n  - python train.py\nresources:\n  gpu: A100:2:3\n')
  await writeFile(join(dir, 'node_modules', 'x', '.dstack.yml'), 'type: task\n')
  await writeFile(join(dir, 'notes.yml'), 'a: 1\n')
  process.chdir(dir)
})

test.after(async () => {
  process.chdir(home)
  await rm(dir, { recursive: true, force: true })
})

function plan (name: string, existing: Plan['existing'] = null): Plan {
  return {
    project: 'main', user: 'admin', type: 'task', resources: 'cpu=2.. mem=8GB.. disk=100GB..', spot_policy: 'on-demand', max_price: null, retry: false, idle_duration: '5m', max_duration: 'off',
    offers: [{ backend: 'local', region: 'mesh', instance_type: 'gpu-01', instance: 'gpu-01', resources: 'cpu=8 mem=32GB disk=100GB', price: 0, spot: false, availability: 'idle', offer: {} as any }],
    total_offers: 1, rejected: [], existing: existing === null ? null : { ...existing, name }
  }
}

test('the finder: configurations nearest first, not under node_modules; fuzzy order', async () => {
  assert.equal(await findConfigurations(dir), ['train.dstack.yml', 'hello/.dstack.yml'])
  assert.equal(fuzzyFilter('hel', ['train.dstack.yml', 'hello/.dstack.yml']), ['hello/.dstack.yml'])
  assert.equal(fuzzyFilter('tr', ['x/straw.dstack.yml', 'train.dstack.yml']), ['train.dstack.yml', 'x/straw.dstack.yml'])
})

test('pick, plan (dstack apply\'s properties and offers), confirm: submitted, then its logs', async () => {
  const client = fakeClient({ 'runs.plan': () => plan('hello'), 'runs.submit': (p: any) => ({ run: { name: p.configuration.name }, action: 'submitted' }) })
  const m = mount(applyScreen, { client })
  await until(m, f => f.includes('hello/.dstack.yml') && f.includes('train.dstack.yml'), 'the finder')
  await press(m, 'j')
  await press(m, KEY.enter)
  const frame = await until(m, f => f.includes('Submit the run hello?'), 'the plan')
  assert.match(frame, /Project\s+main/)
  assert.match(frame, /Max duration\s+off/)
  assert.match(frame, /#\s+BACKEND\s+RESOURCES\s+INSTANCE TYPE\s+PRICE/)
  assert.match(frame, /local \(mesh\)/)
  const planned = client.asked.find(a => a.method === 'runs.plan')!.params as any
  assert.is(planned.configuration.name, 'hello')
  await press(m, 'y')
  await until(m, () => m.went.length > 0, 'the jump to logs')
  assert.equal(m.went, [{ screen: 'logs', arg: 'hello' }])
  const submitted = client.asked.find(a => a.method === 'runs.submit')!.params as any
  assert.is(submitted.configuration_path, join(dir, 'hello', '.dstack.yml'))
  assert.is(submitted.force, false)
  m.unmount()
})

test('a file with mistakes: each under its line, nothing asked of the daemon', async () => {
  const client = fakeClient({})
  const m = mount(applyScreen, { client })
  await until(m, f => f.includes('train.dstack.yml'), 'the finder')
  await press(m, KEY.enter)
  const frame = await until(m, f => f.includes('mistake'), 'the mistakes')
  assert.match(frame, /train\.dstack\.yml: 1 mistake/)
  assert.match(frame, /6 │ {3}gpu: A100:2:3/)
  assert.match(frame, /╰ resources\.gpu: /)
  assert.equal(client.asked, [])
  await press(m, 'b')
  await until(m, f => f.includes('Configurations under'), 'back to the finder')
  m.unmount()
})

test('p types a path (the keys are captured meanwhile) or filters fuzzily', async () => {
  const captured: boolean[] = []
  const client = fakeClient({ 'runs.plan': () => plan('hello') })
  const m = mount(applyScreen, { client, capture: on => { captured.push(on) } })
  await until(m, f => f.includes('hello/.dstack.yml'), 'the finder')
  await press(m, 'p')
  await until(m, f => f.includes('path or filter:'), 'the field')
  await press(m, 'hel')
  let frame = await until(m, f => f.includes('path or filter: hel'), 'the query')
  assert.not.match(frame, /train\.dstack\.yml/)
  await press(m, KEY.enter)
  await until(m, f => f.includes('Submit the run hello?'), 'the plan of the match')
  assert.equal(captured, [true, false])
  await press(m, 'b')
  await press(m, 'p')
  await press(m, './hello/.dstack.yml')
  await press(m, KEY.enter)
  frame = await until(m, f => f.includes('Submit the run hello?'), 'the plan of the typed path')
  m.unmount()
})

test('an unchanged run is not submitted again; a daemon error is shown with r to retry', async () => {
  const client = fakeClient({ 'runs.plan': () => plan('hello', { kind: 'unchanged', status: 'running', changes: [] } as any), 'runs.submit': () => { throw new Error('must not submit') } })
  const m = mount(applyScreen, { client, arg: 'hello/.dstack.yml' })
  await until(m, f => f.includes('Run hello is running and nothing changed'), 'the unchanged plan')
  await press(m, 'y')
  await until(m, () => m.flashes.length > 0, 'a flash')
  assert.is(client.asked.some(a => a.method === 'runs.submit'), false)
  m.unmount()
  const failing = fakeClient({ 'runs.plan': () => { throw new Error('no dstackd answers on /x/api.sock') } })
  const e = mount(applyScreen, { client: failing, arg: 'hello/.dstack.yml' })
  await until(e, f => f.includes('hello/.dstack.yml: no dstackd answers'), 'the error')
  e.unmount()
})

test('read-only: disabled, no keys', async () => {
  const client = fakeClient({})
  const m = mount(applyScreen, { client, readonly: true, arg: 'hello/.dstack.yml' })
  await until(m, f => f.includes('Apply is disabled in read-only mode'), 'the note')
  await press(m, KEY.enter)
  assert.equal(client.asked, [])
  m.unmount()
})

test.run()
