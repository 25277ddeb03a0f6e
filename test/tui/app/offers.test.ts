// The Offers screen: dstack offer's listing, asked again when the fleets change, filtered by `/`.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { OfferList, OfferView } from '../../../daemon/api/views.ts'
import { offersScreen } from '../../../tui/app/screens/offers.tsx'
import { fakeClient, feed, mount, press, until, widest } from './screen-fake.ts'

function offer (name: string, gpu: string, p: number, availability: OfferView['availability'] = 'idle'): OfferView {
  return {
    backend: 'local', region: 'mesh', instance_type: name, instance: name, resources: `cpu=8 mem=32GB disk=100GB gpu=${gpu}:24GB:1`, price: p, spot: false, availability,
    offer: { backend: 'local', region: 'mesh', instance_type: name, price: p, spot: false, cpu_arch: null, cpus: 8, memory: 32, disk: 100, gpus: [{ name: gpu, memory: 24, vendor: 'nvidia' } as any] }
  }
}

function list (offers: OfferView[], rejected: OfferList['rejected'] = []): OfferList {
  return { project: 'main', user: 'admin', requirements: { resources: 'cpu=2.. mem=8GB.. disk=100GB..', spot_policy: 'on-demand', max_price: null }, offers, total_offers: offers.length, rejected }
}

test('loading, then the offers as dstack offer lists them, each row inside the width', async () => {
  let answer: (v: OfferList) => void = () => {}
  const fleets = feed()
  const client = fakeClient({ 'offers.list': () => new Promise(resolve => { answer = resolve }) }, { 'fleets.watch': fleets })
  const m = mount(offersScreen, { client, width: 60 })
  fleets.push({})
  await until(m, f => f.includes('Loading offers') && client.asked.some(a => a.method === 'offers.list'), 'a loading line')
  answer(list([offer('gpu-01', 'L4', 0.5), offer('gpu-02', 'A100', 2, 'busy')]))
  // 60 columns: RESOURCES gives way (its cut marked), the instance stays.
  const frame = await until(m, f => f.includes('gpu-02'), 'the offers')
  assert.match(frame, /Project\s+main/)
  assert.match(frame, /…/)
  assert.match(frame, /#\s+BACKEND\s+RESOURCES/)
  assert.match(frame, /1\s+local \(mesh\)/)
  assert.ok(widest(frame) <= 60, frame)
  m.unmount()
})

test('asked again when the fleets change; the stream is left when the screen goes', async () => {
  const fleets = feed()
  // What the mesh offers changes only when the test says so (however many times the screen asks before).
  let changed = false
  const client = fakeClient({ 'offers.list': () => list(changed ? [offer('gpu-01', 'L4', 0.5), offer('gpu-09', 'H100', 3)] : [offer('gpu-01', 'L4', 0.5)]) }, { 'fleets.watch': fleets })
  const m = mount(offersScreen, { client })
  fleets.push({})
  await until(m, f => f.includes('gpu-01'), 'the first answer')
  assert.not.match(m.lastFrame()!, /gpu-09/)
  changed = true
  fleets.push({})
  await until(m, f => f.includes('gpu-09'), 'the offers after the change')
  m.unmount()
  await until(m, () => fleets.left, 'the stream left')
})

test('without fleets.watch (an older daemon) the offers are asked once; r asks again', async () => {
  let n = 0
  const client = fakeClient({ 'offers.list': () => list([offer(`gpu-0${++n}`, 'L4', 0.5)]) })
  const m = mount(offersScreen, { client })
  await until(m, f => f.includes('gpu-01'), 'the offers')
  await press(m, 'r')
  await until(m, f => f.includes('gpu-02'), 'asked again')
  m.unmount()
})

test('the / filter keeps the matching rows; /! the others; none matching says so', async () => {
  const client = fakeClient({ 'offers.list': () => list([offer('gpu-01', 'L4', 0.5), offer('gpu-02', 'A100', 2)]) })
  const m = mount(offersScreen, { client })
  await until(m, f => f.includes('gpu-02'), 'the offers')
  m.rerender({ filter: { pattern: /A100/, invert: false } })
  let frame = await until(m, f => !f.includes('gpu-01'), 'only A100')
  assert.match(frame, /gpu-02/)
  m.rerender({ filter: { pattern: /A100/, invert: true } })
  frame = await until(m, f => !f.includes('gpu-02'), 'all but A100')
  assert.match(frame, /gpu-01/)
  m.rerender({ filter: { pattern: /nothing-like-this/, invert: false } })
  await until(m, f => f.includes('No offer matches the filter (2 offers)'), 'the empty filter line')
  m.unmount()
})

test('no offers: the reasons each host was rejected; an error is shown as such', async () => {
  const client = fakeClient({ 'offers.list': () => list([], [{ instance: 'gpu-01', reason: 'needs 8 GPUs, has 1' }]) })
  const m = mount(offersScreen, { client })
  const frame = await until(m, f => f.includes('No offers match'), 'the empty state')
  assert.match(frame, /gpu-01: needs 8 GPUs, has 1/)
  m.unmount()
  const failing = fakeClient({ 'offers.list': () => { throw new Error('project x: not found or you are not a member') } })
  const e = mount(offersScreen, { client: failing })
  await until(e, f => f.includes('offers: project x: not found'), 'the error')
  e.unmount()
})

test('a small box: nothing drawn past its height', async () => {
  const client = fakeClient({ 'offers.list': () => list(Array.from({ length: 30 }, (_, i) => offer(`gpu-${i}`, 'L4', i))) })
  const m = mount(offersScreen, { client, height: 10 })
  const frame = await until(m, f => f.includes('gpu-0'), 'the offers')
  assert.ok(frame.split('\n').length <= 10, frame)
  await press(m, 'G')
  await until(m, f => f.includes('gpu-29'), 'the last offer after G')
  m.unmount()
})

test.run()
