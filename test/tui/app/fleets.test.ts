// The Fleets screen: dstack fleet's rows with role and pulse, the selected host in full, live
// from fleets.watch; and the pulse's pieces.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { FleetView, HostView } from '../../../daemon/api/views.ts'
import { fleetsScreen } from '../../../tui/app/screens/fleets.tsx'
import { addSamples, bar, busyness, sparkline } from '../../../tui/app/state/pulse.ts'
import { fakeClient, feed, mount, press, until, widest } from './screen-fake.ts'

function instance (num: number, name: string, gpus: number, unreachable = false): FleetView['instances'][number] {
  return {
    id: `i${num}`, name, num, fleet: 'local', hostname: `${name}.lan`, status: unreachable ? 'idle' : 'busy', status_text: unreachable ? 'idle (unreachable)' : 'busy', unreachable,
    backend: 'local', region: 'mesh', resources: 'cpu=8 mem=32GB disk=100GB', created_at: Date.now() - 60_000, warnings: [],
    offer: { backend: 'local', region: 'mesh', instance_type: name, price: 0, spot: false, cpu_arch: null, cpus: 8, memory: 32, disk: 100, gpus: Array.from({ length: gpus }, () => ({ vendor: 'nvidia', name: 'L4', memory: 24 })) }
  } as FleetView['instances'][number]
}

function snapshot (opts: { unreachable?: boolean, utilization?: number[] | null } = {}): { fleets: FleetView[], hosts: HostView[] } {
  const a = instance(0, 'gpu-01', 2)
  const b = instance(1, 'gpu-02', 0, opts.unreachable)
  const fleets: FleetView[] = [{ id: 'f', name: 'local', status: 'active', created_at: Date.now() - 60_000, instances: [a, b] }]
  const hosts: HostView[] = [
    { instance: a, role: 'leader', reachable: true, unreachable_since: null, gpu_utilization: opts.utilization ?? null, jobs: [
      { run: 'train', job: 'train-0-0', status: 'running', gpus: [1], cpus: 4, memory: 16 },
      { run: null, job: 'x-0-0', status: 'running', gpus: [], cpus: 1, memory: 1 }
    ] },
    { instance: b, role: 'voter', reachable: !opts.unreachable, unreachable_since: opts.unreachable ? Date.now() - 180_000 : null, gpu_utilization: null, jobs: [] }
  ]
  return { fleets, hosts }
}

test('pulse: a sparkline of the last samples, a bar, and what busy means without utilization', () => {
  assert.is(sparkline([0, 50, 100], 3), '▁▅█')
  assert.is(sparkline([100], 4), '   █')
  assert.is(sparkline([0, 0, 0, 100, 100], 2), '██')
  assert.is(bar(50, 14), '[████░░░]  50%')
  const { hosts } = snapshot()
  assert.equal(busyness(hosts[0]!), { value: 50, kind: 'allocation' }, 'one of two GPUs held')
  assert.equal(busyness(hosts[1]!), { value: 0, kind: 'allocation' })
  assert.equal(busyness({ ...hosts[0]!, gpu_utilization: [20, 80] }), { value: 50, kind: 'utilization' })
  const h = addSamples(addSamples(new Map(), hosts, 2), hosts, 2)
  assert.equal(h.get('i0'), [50, 50])
  assert.equal(addSamples(h, hosts, 2).get('i0')!.length, 2, 'at most `keep` samples')
  assert.is(addSamples(h, [hosts[1]!]).has('i0'), false, 'a host gone is dropped')
})

test('loading, then the fleet and its hosts with role and pulse; the selected host in full', async () => {
  const watch = feed<{ fleets: FleetView[], hosts: HostView[] }>()
  const m = mount(fleetsScreen, { client: fakeClient({}, { 'fleets.watch': watch }), width: 120, height: 24 })
  await until(m, f => f.includes('Loading fleets'), 'loading')
  watch.push(snapshot())
  let frame = await until(m, f => /leader\s+▅/.test(f), 'the hosts with their first pulse sample')
  assert.match(frame, /NAME\s+NODES\s+GPU\s+SPOT\s+BACKEND\s+PRICE\s+STATUS\s+CREATED\s+ROLE\s+PULSE/)
  assert.match(frame, /instance=0\s+L4:24GB:2.*leader\s+▅/)
  assert.match(frame, /fleet local: 2 hosts, 2 reachable, 2 GPUs/)
  await press(m, 'j')
  frame = await until(m, f => f.includes('GPU0'), 'the first host in full')
  assert.match(frame, /gpu-01 \(instance=0, gpu-01\.lan\)\s+leader\s+reachable/)
  assert.match(frame, /GPU0\s+L4 24GB\s+\[free\s*\]\s+-/)
  assert.match(frame, /GPU1\s+L4 24GB\s+\[held\s*\]\s+train\/train-0-0/)
  assert.match(frame, /CPU 8 \(5 held\)\s+MEM 32GB \(17GB held\)/)
  assert.match(frame, /job \(another project\)/, 'another project\'s run is not named')
  assert.match(frame, /pulse ▅+\s+GPUs held \(no utilization reported\)/)
  assert.ok(widest(frame) <= 120 && frame.split('\n').length <= 24, frame)
  m.unmount()
  await until(m, () => watch.left, 'the stream left')
})

test('live: a host gone unreachable says since when; reported utilization draws bars', async () => {
  const watch = feed<{ fleets: FleetView[], hosts: HostView[] }>()
  const m = mount(fleetsScreen, { client: fakeClient({}, { 'fleets.watch': watch }), width: 120, height: 24 })
  watch.push(snapshot())
  await until(m, f => f.includes('instance=1'), 'the hosts')
  watch.push(snapshot({ unreachable: true, utilization: [10, 90] }))
  await until(m, f => f.includes('idle (unreachable)'), 'the change')
  await press(m, 'j')
  let frame = await until(m, f => f.includes('GPU1'), 'the first host')
  assert.match(frame, /GPU1\s+L4 24GB\s+\[█+░*\]\s+90%\s+train/)
  assert.match(frame, /GPU utilization/)
  await press(m, 'j')
  frame = await until(m, f => f.includes('unreachable since 3 mins ago'), 'the second host')
  assert.match(frame, /no jobs/)
  m.unmount()
})

test('filter, and the error state', async () => {
  const watch = feed<{ fleets: FleetView[], hosts: HostView[] }>()
  const m = mount(fleetsScreen, { client: fakeClient({}, { 'fleets.watch': watch }), width: 100, filter: { pattern: /leader/, invert: false } })
  watch.push(snapshot())
  const frame = await until(m, f => f.includes('instance=0'), 'the leader')
  assert.not.match(frame, /instance=1/)
  m.unmount()
  const failing = feed<{ fleets: FleetView[], hosts: HostView[] }>()
  const e = mount(fleetsScreen, { client: fakeClient({}, { 'fleets.watch': failing }) })
  failing.fail(Object.assign(new Error('project x: not found or you are not a member'), { code: 'forbidden' }))
  await until(e, f => f.includes('fleets: project x: not found'), 'the error')
  e.unmount()
})

test.run()
