// The placement constraint of container jobs: a job that runs in a container goes only where a
// container engine answers; a host that runs every job in one (--runtime docker) takes none
// while it has no engine; what a host gossips of its engine is checked like any input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { offerMismatch, parseRunConfiguration, type Offer } from '../../../daemon/config/index.ts'
import { requirementsOf } from '../../../daemon/scheduler/index.ts'
import { hostRecordProblem } from '../../../daemon/scheduler/hosts.ts'

const BASE: Offer = { backend: 'local', region: 'local', instance_type: 'h', price: 0, spot: false, cpu_arch: 'x86', cpus: 4, memory: 8, disk: 100, gpus: [] }
const IMAGE = requirementsOf(parseRunConfiguration('type: task\nimage: local/busybox\ncommands: [ls]\nresources: {cpu: 1.., memory: 1GB..}\n'))
const PROCESS = requirementsOf(parseRunConfiguration('type: task\ncommands: [ls]\nresources: {cpu: 1.., memory: 1GB..}\n'))

test('a container job needs a host whose engine answers; a process job does not care, unless the host runs every job in a container', () => {
  const rows: Array<[string, Partial<Offer>, typeof IMAGE, string | null]> = [
    ['engine, container job', { container_engine: 'docker 20.10.24' }, IMAGE, null],
    ['no engine, container job', { container_engine: null }, IMAGE, 'no container engine, the job runs in a container'],
    ['engine not known (an offer from elsewhere), container job', {}, IMAGE, null],
    ['no engine, process job', { container_engine: null }, PROCESS, null],
    ['no engine, every job in a container', { container_engine: null, containers_only: true }, PROCESS, 'no container engine, and the host runs every job in one'],
    ['engine, every job in a container', { container_engine: 'docker 20.10.24', containers_only: true }, PROCESS, null]
  ]
  for (const [name, offer, req, want] of rows) assert.is(offerMismatch({ ...BASE, ...offer }, req), want, name)
  assert.is(IMAGE.container, true)
  assert.is(PROCESS.container, false)
})

test('a gossiped engine must be a short string or null', () => {
  const record = (offer: Partial<Offer>) => ({ name: 'h', hostname: 'h', address: '127.0.0.1', version: '1', warnings: [], offer: { ...BASE, ...offer } })
  assert.is(hostRecordProblem(record({ container_engine: 'docker 20.10.24' })), null)
  assert.is(hostRecordProblem(record({ container_engine: null })), null)
  assert.is(hostRecordProblem(record({ container_engine: 7 as unknown as string })), 'offer.container_engine must be a short string or null')
  assert.is(hostRecordProblem(record({ container_engine: 'x'.repeat(300) })), 'offer.container_engine must be a short string or null')
})

test.run()
