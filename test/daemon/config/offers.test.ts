import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  blockShare, combineIdleDuration, combineRequirements, combineSpotPolicy, matchingBlocks, mergeTags, offerMatches,
  offerMismatch, resolveBlocks
} from '../../../daemon/config/offers.ts'
import type { Offer, OfferGpu, Requirements } from '../../../daemon/config/offers.ts'
import { parseResources } from '../../../daemon/config/resources.ts'

const gpus = (n: number, name = 'A100', memory = 80, vendor: OfferGpu['vendor'] = 'nvidia'): OfferGpu[] =>
  Array.from({ length: n }, () => ({ vendor, name, memory }))

function offer (over: Partial<Offer> = {}): Offer {
  return {
    backend: 'aws', region: 'us-east-1', instance_type: 'x', price: 1, spot: false, cpu_arch: 'x86',
    cpus: 8, memory: 32, disk: 200, gpus: [], ...over
  }
}

/** Requirements from a `resources` mapping as a user would write it, plus profile-derived fields. */
function req (resources: unknown = {}, over: Partial<Omit<Requirements, 'resources'>> = {}): Requirements {
  return { resources: parseResources(resources), spot: null, max_price: null, reservation: null, ...over }
}

/** A name, an offer, the requirements, and the expected mismatch (null = matches). */
type Row = [string, Offer, Requirements, string | null]

function check (rows: Row[]): void {
  for (const [name, o, r, want] of rows) {
    assert.is(offerMismatch(o, r), want, name)
    assert.is(offerMatches(o, r), want === null, `${name} (offerMatches)`)
  }
}

test('1. price ≤ max_price, when set', () => {
  check([
    ['under', offer({ price: 1.5 }), req({}, { max_price: 2 }), null],
    ['equal', offer({ price: 2 }), req({}, { max_price: 2 }), null],
    ['over', offer({ price: 2.5 }), req({}, { max_price: 2 }), 'price 2.5 above max_price 2'],
    ['unset', offer({ price: 100 }), req(), null]
  ])
})

test('2. spot status equal, when set', () => {
  check([
    ['spot wanted, spot offer', offer({ spot: true }), req({}, { spot: true }), null],
    ['spot wanted, on-demand offer', offer({ spot: false }), req({}, { spot: true }), 'on-demand offer, spot required'],
    ['on-demand wanted, spot offer', offer({ spot: true }), req({}, { spot: false }), 'spot offer, on-demand required'],
    ['either (auto)', offer({ spot: true }), req({}, { spot: null }), null]
  ])
})

test('3. arch equal when required; an offer with no arch counts as x86', () => {
  check([
    ['x86 wanted, x86 offer', offer({ cpu_arch: 'x86' }), req({ cpu: 'x86' }), null],
    ['arm wanted, x86 offer', offer({ cpu_arch: 'x86' }), req({ cpu: 'arm' }), 'arch x86, arm required'],
    ['x86 wanted, arm offer', offer({ cpu_arch: 'arm' }), req({ cpu: 'x86' }), 'arch arm, x86 required'],
    ['x86 wanted, unknown arch', offer({ cpu_arch: null }), req({ cpu: 'x86' }), null],
    ['arm wanted, unknown arch', offer({ cpu_arch: null }), req({ cpu: 'arm' }), 'arch x86, arm required'],
    ['no arch wanted', offer({ cpu_arch: 'arm' }), req(), null]
  ])
})

test('4. cpus and memory within their ranges, bounds inclusive', () => {
  check([
    ['cpus at min', offer({ cpus: 8 }), req({ cpu: '8..16' }), null],
    ['cpus at max', offer({ cpus: 16 }), req({ cpu: '8..16' }), null],
    ['cpus below', offer({ cpus: 4 }), req({ cpu: '8..' }), 'cpus 4 not in 8..'],
    ['cpus above', offer({ cpus: 32 }), req({ cpu: '8..16' }), 'cpus 32 not in 8..16'],
    ['memory at min', offer({ memory: 64 }), req({ memory: '64GB..' }), null],
    ['memory at max', offer({ memory: 128 }), req({ memory: '..128GB' }), null],
    ['memory below', offer({ memory: 16 }), req({ memory: '32GB..' }), 'memory 16GB not in 32GB..'],
    ['default cpu 2..', offer({ cpus: 1 }), req(), 'cpus 1 not in 2..'],
    ['default memory 8GB..', offer({ memory: 4 }), req(), 'memory 4GB not in 8GB..']
  ])
})

test('5. GPU checks are skipped when count.min is 0 and the offer has no GPU', () => {
  check([
    ['default 0.., CPU offer', offer(), req(), null],
    ['default 0.., GPU offer', offer({ gpus: gpus(8) }), req(), null],
    ['0..8 with names, CPU offer', offer(), req({ gpu: { name: 'H100', count: '0..8', compute_capability: '9.0', memory: '80GB' } }), null],
    ['..8 (open min counts as 0), CPU offer', offer(), req({ gpu: '..8' }), null],
    ['gpu: 0, GPU offer', offer({ gpus: gpus(1) }), req({ gpu: 0 }), 'gpus 1 not in 0'],
    ['gpu: 1.., CPU offer', offer(), req({ gpu: 1 }), 'gpus 0 not in 1']
  ])
})

test('5. vendor equal', () => {
  check([
    ['nvidia wanted, nvidia offer', offer({ gpus: gpus(1) }), req({ gpu: 'nvidia' }), null],
    ['amd wanted, nvidia offer', offer({ gpus: gpus(1) }), req({ gpu: 'amd' }), 'gpu vendor nvidia, amd required'],
    ['amd wanted, CPU offer', offer(), req({ gpu: 'amd' }), 'no GPU, amd required'],
    ['no vendor wanted', offer({ gpus: gpus(1, 'MI300X', 192, 'amd') }), req({ gpu: 1 }), null]
  ])
})

test('5. GPU count within range', () => {
  check([
    ['exact', offer({ gpus: gpus(2) }), req({ gpu: 2 }), null],
    ['range ends', offer({ gpus: gpus(8) }), req({ gpu: '2..8' }), null],
    ['too many', offer({ gpus: gpus(8) }), req({ gpu: 'A100:2' }), 'gpus 8 not in 2'],
    ['too few', offer({ gpus: gpus(1) }), req({ gpu: '2..' }), 'gpus 1 not in 2..']
  ])
})

test('5. name in the names, case-insensitively; a GPU-less offer fails a name requirement', () => {
  check([
    ['same case', offer({ gpus: gpus(1, 'A100') }), req({ gpu: 'A100' }), null],
    ['other case', offer({ gpus: gpus(1, 'A100') }), req({ gpu: 'a100' }), null],
    ['one of several', offer({ gpus: gpus(1, 'A10G', 24) }), req({ gpu: 'A100,A10G' }), null],
    ['not listed', offer({ gpus: gpus(1, 'T4', 16) }), req({ gpu: 'A100,H100' }), 'gpu T4 not in A100,H100'],
    ['no GPU, count 1..', offer(), req({ gpu: 'A100' }), 'gpus 0 not in 1..'],
    ['no GPU, names with count ..1', offer(), req({ gpu: { name: 'A100', count: { min: 0, max: 1 } } }), null]
  ])
  // A GPU-less offer either skips the GPU checks (count.min 0) or fails the count (min ≥ 1) before
  // the names are looked at; both are pinned above.
})

test('5. compute capability: NVIDIA with a known name and CC ≥ the required one', () => {
  check([
    ['equal', offer({ gpus: gpus(1, 'A100') }), req({ gpu: { compute_capability: '8.0' } }), null],
    ['higher', offer({ gpus: gpus(1, 'H100') }), req({ gpu: { compute_capability: 8.6 } }), null],
    ['lower', offer({ gpus: gpus(1, 'T4', 16) }), req({ gpu: { compute_capability: [8, 0] } }), 'gpu nvidia T4 lacks compute capability 8.0'],
    ['unknown name', offer({ gpus: gpus(1, 'RTX9999', 16) }), req({ gpu: { compute_capability: '7.0' } }), 'gpu nvidia RTX9999 lacks compute capability 7.0'],
    ['not NVIDIA', offer({ gpus: gpus(1, 'MI300X', 192, 'amd') }), req({ gpu: { compute_capability: '7.0' } }), 'gpu amd MI300X lacks compute capability 7.0'],
    ['name any case', offer({ gpus: gpus(1, 'l4', 24) }), req({ gpu: { compute_capability: '8.9' } }), null]
  ])
})

test('5. per-GPU memory within range (0 if no GPUs), bounds inclusive', () => {
  check([
    ['exact', offer({ gpus: gpus(1, 'A100', 80) }), req({ gpu: '80GB' }), null],
    ['range ends', offer({ gpus: gpus(1, 'A100', 40) }), req({ gpu: '40GB..80GB' }), null],
    ['too small', offer({ gpus: gpus(1, 'A100', 40) }), req({ gpu: '80GB' }), 'gpu memory 40GB not in 80GB'],
    ['too big', offer({ gpus: gpus(1, 'H200', 141) }), req({ gpu: '24GB..80GB' }), 'gpu memory 141GB not in 24GB..80GB'],
    ['several GPUs: each is checked', offer({ gpus: [...gpus(1, 'A100', 80), ...gpus(1, 'A100', 40)] }), req({ gpu: '80GB:2' }), 'gpu memory 40GB not in 80GB'],
    ['CPU offer, count from 0: skipped with the rest of the GPU checks', offer(), req({ gpu: { vendor: 'nvidia', count: '0..2', memory: '16GB..' } }), null]
  ])
})

test('5. total GPU memory (count × per-GPU) within range', () => {
  check([
    ['enough', offer({ gpus: gpus(8, 'A100', 80) }), req({ gpu: { total_memory: '640GB..' } }), null],
    ['exact', offer({ gpus: gpus(2, 'A100', 40) }), req({ gpu: { total_memory: '80GB' } }), null],
    ['too little', offer({ gpus: gpus(2, 'A100', 40) }), req({ gpu: { total_memory: '160GB..' } }), 'total gpu memory 80GB not in 160GB..'],
    ['too much', offer({ gpus: gpus(8, 'H100', 80) }), req({ gpu: { total_memory: '..320GB' } }), 'total gpu memory 640GB not in ..320GB']
  ])
})

test('6. disk within range, checked only when known (0 = unknown)', () => {
  check([
    ['big enough', offer({ disk: 100 }), req(), null],
    ['too small', offer({ disk: 50 }), req(), 'disk 50GB not in 100GB..'],
    ['unknown passes', offer({ disk: 0 }), req({ disk: '1TB..' }), null],
    ['too big', offer({ disk: 2048 }), req({ disk: '100GB..1TB' }), 'disk 2048GB not in 100GB..1024GB'],
    ['no disk requirement', offer({ disk: 1 }), req({ disk: null }), null]
  ])
})

test('checks run in order: the first failing one is reported', () => {
  const bad = offer({ price: 9, spot: true, cpu_arch: 'arm', cpus: 1, memory: 1, disk: 1, gpus: gpus(1, 'T4', 16) })
  assert.is(offerMismatch(bad, req({ cpu: 'x86', gpu: 'A100' }, { max_price: 1, spot: false })), 'price 9 above max_price 1')
  assert.is(offerMismatch(bad, req({ cpu: 'x86', gpu: 'A100' }, { spot: false })), 'spot offer, on-demand required')
  assert.is(offerMismatch(bad, req({ cpu: 'x86', gpu: 'A100' })), 'arch arm, x86 required')
  assert.is(offerMismatch(bad, req({ gpu: 'A100' })), 'cpus 1 not in 2..')
  assert.is(offerMismatch(bad, req({ cpu: 1, gpu: 'A100' })), 'memory 1GB not in 8GB..')
  assert.is(offerMismatch(bad, req({ cpu: 1, memory: 1, gpu: 'A100' })), 'gpu T4 not in A100')
  assert.is(offerMismatch(bad, req({ cpu: 1, memory: 1, gpu: 'T4' })), 'disk 1GB not in 100GB..')
})

// -- combination ----------------------------------------------------------------------------------

test('combine: ranges intersect, max_price and shm_size take the min', () => {
  const fleet = req({ cpu: '4..16', memory: '16GB..', disk: '100GB..500GB', shm_size: '8GB', gpu: { count: '1..8', memory: '40GB..' } }, { max_price: 10 })
  const run = req({ cpu: '8..', memory: '..64GB', disk: '200GB..', shm_size: '4GB', gpu: { count: 2, memory: '..80GB', total_memory: '80GB..' } }, { max_price: 4 })
  const out = combineRequirements(fleet, run)!
  assert.equal(out.resources.cpu.count, { min: 8, max: 16 })
  assert.equal(out.resources.memory, { min: 16, max: 64 })
  assert.equal(out.resources.disk, { size: { min: 200, max: 500 } })
  assert.is(out.resources.shm_size, 4)
  assert.equal(out.resources.gpu.count, { min: 2, max: 2 })
  assert.equal(out.resources.gpu.memory, { min: 40, max: 80 })
  assert.equal(out.resources.gpu.total_memory, { min: 80, max: null })
  assert.is(out.max_price, 4)
  assert.is(combineRequirements(req({}, { max_price: 3 }), req())!.max_price, 3)
})

test('combine: disjoint ranges are incompatible', () => {
  const rows: Array<[string, unknown, unknown]> = [
    ['cpu', { cpu: '..4' }, { cpu: '8..' }],
    ['memory', { memory: '..16GB' }, { memory: '32GB..' }],
    ['gpu count', { gpu: 0 }, { gpu: 'A100:1' }],
    ['gpu memory', { gpu: '24GB' }, { gpu: '80GB' }],
    ['disk', { disk: '..100GB' }, { disk: '200GB..' }]
  ]
  for (const [name, a, b] of rows) assert.is(combineRequirements(req(a), req(b)), null, name)
})

test('combine: spot, reservation, vendor and arch must be equal; null on one side takes the other', () => {
  const rows: Array<[string, Requirements, Requirements, boolean]> = [
    ['spot equal', req({}, { spot: true }), req({}, { spot: true }), true],
    ['spot differs', req({}, { spot: true }), req({}, { spot: false }), false],
    ['spot one side', req({}, { spot: null }), req({}, { spot: false }), true],
    ['reservation differs', req({}, { reservation: 'a' }), req({}, { reservation: 'b' }), false],
    ['reservation one side', req({}, { reservation: 'a' }), req(), true],
    ['vendor differs', req({ gpu: 'nvidia' }), req({ gpu: 'amd' }), false],
    ['vendor one side', req({ gpu: 'amd' }), req({ gpu: 1 }), true],
    ['arch differs', req({ cpu: 'arm' }), req({ cpu: 'x86' }), false],
    ['arch one side', req(), req({ cpu: 'arm' }), true]
  ]
  for (const [name, a, b, ok] of rows) assert.is(combineRequirements(a, b) !== null, ok, name)
  const out = combineRequirements(req({ gpu: 'amd' }, { spot: null, reservation: 'r1' }), req({ cpu: 'arm' }, { spot: false }))!
  assert.is(out.resources.gpu.vendor, 'amd')
  assert.is(out.resources.cpu.arch, 'arm')
  assert.is(out.spot, false)
  assert.is(out.reservation, 'r1')
})

test('combine: name lists intersect in the fleet\'s order; none in common is incompatible', () => {
  const names = (a: string, b: string): string[] | null | undefined => combineRequirements(req({ gpu: a }), req({ gpu: b }))?.resources.gpu.name
  assert.equal(names('H100,A100,A10G', 'A10G,H100'), ['H100', 'A10G'])
  assert.equal(names('A10G,H100', 'H100,A100,A10G'), ['A10G', 'H100'])
  assert.equal(names('h100', 'H100'), ['h100'])
  assert.equal(names('24GB', 'A100'), ['A100'])
  assert.equal(names('24GB', '1'), null)
  assert.is(names('A100', 'H100'), undefined)
})

test('combine: compute capability takes the stricter minimum', () => {
  const cc = combineRequirements(req({ gpu: { compute_capability: '8.0' } }), req({ gpu: { compute_capability: '7.5' } }))!.resources.gpu.compute_capability
  assert.equal(cc, [8, 0])
  assert.equal(combineRequirements(req(), req({ gpu: { compute_capability: '9.0' } }))!.resources.gpu.compute_capability, [9, 0])
})

test('combine: the result matches only offers both sides match', () => {
  const fleet = req({ cpu: '8..', gpu: 'A100,H100:1..8' })
  const run = req({ gpu: 'H100:2' })
  const both = combineRequirements(fleet, run)!
  for (const o of [offer({ cpus: 16, gpus: gpus(2, 'H100') }), offer({ cpus: 4, gpus: gpus(2, 'H100') }), offer({ cpus: 16, gpus: gpus(2, 'A100') })]) {
    assert.is(offerMatches(o, both), offerMatches(o, fleet) && offerMatches(o, run))
  }
})

test('spot policy: auto yields, otherwise equal', () => {
  const rows: Array<['spot' | 'on-demand' | 'auto', 'spot' | 'on-demand' | 'auto', 'spot' | 'on-demand' | 'auto' | null]> = [
    ['auto', 'spot', 'spot'], ['on-demand', 'auto', 'on-demand'], ['auto', 'auto', 'auto'],
    ['spot', 'spot', 'spot'], ['spot', 'on-demand', null], ['on-demand', 'spot', null]
  ]
  for (const [a, b, want] of rows) assert.is(combineSpotPolicy(a, b), want, `${a} + ${b}`)
})

test('idle duration: min of the finite values, finite preferred over off (-1)', () => {
  const rows: Array<[number, number, number]> = [[300, 600, 300], [600, 300, 300], [-1, 300, 300], [300, -1, 300], [-1, -1, -1], [0, 300, 0]]
  for (const [a, b, want] of rows) assert.is(combineIdleDuration(a, b), want, `${a} + ${b}`)
})

test('tags: merged, the run winning', () => {
  assert.equal(mergeTags({ team: 'ml', env: 'prod' }, { env: 'dev', owner: 'me' }), { team: 'ml', env: 'dev', owner: 'me' })
  assert.equal(mergeTags(null, { a: '1' }), { a: '1' })
  assert.equal(mergeTags({ a: '1' }, null), { a: '1' })
  assert.is(mergeTags(null, null), null)
})

// -- blocks ---------------------------------------------------------------------------------------

test('blocks: auto is cpus without GPUs, else min(cpus, gpus); it must divide both', () => {
  const rows: Array<[string, number | 'auto', number, number, number | null]> = [
    ['8 GPUs, 64 CPUs, auto', 'auto', 64, 8, 8],
    ['12 CPUs, 8 GPUs, auto: not divisible', 'auto', 12, 8, null],
    ['no GPU, auto = cpus', 'auto', 16, 0, 16],
    ['more GPUs than CPUs', 'auto', 4, 8, 4],
    ['explicit 4', 4, 32, 8, 4],
    ['explicit 3 does not divide 8 GPUs', 3, 24, 8, null],
    ['explicit 1', 1, 7, 3, 1],
    ['0 blocks', 0, 8, 0, null],
    ['no CPUs, auto', 'auto', 0, 0, null]
  ]
  for (const [name, blocks, cpus, g, want] of rows) assert.is(resolveBlocks(blocks, cpus, g), want, name)
})

test('blocks: k of n blocks get k times the per-block share; disk shared, price unchanged', () => {
  const host = offer({ cpus: 64, memory: 512, disk: 1000, price: 10, gpus: gpus(8, 'H100', 80) })
  const share = blockShare(host, 3, 8)
  assert.is(share.cpus, 24)
  assert.is(share.memory, 192)
  assert.is(share.gpus.length, 3)
  assert.is(share.disk, 1000)
  assert.is(share.price, 10)
  assert.is(share.blocks, 3)
  assert.is(share.total_blocks, 8)
  const odd = blockShare(offer({ cpus: 10, memory: 10, gpus: gpus(3) }), 2, 3)
  assert.is(odd.cpus, 6)
  assert.is(odd.gpus.length, 2)
  assert.is(odd.memory, Math.floor(10240 / 3) * 2 / 1024)
  assert.equal(blockShare(host, 8, 8).gpus, host.gpus)
})

test('blocks: the smallest matching share, counting upward', () => {
  const host = offer({ cpus: 64, memory: 512, disk: 1000, gpus: gpus(8, 'H100', 80) })
  assert.is(matchingBlocks(host, req({ gpu: 'H100:2' }), 8), 2)
  assert.is(matchingBlocks(host, req({ gpu: 1 }), 8), 1)
  assert.is(matchingBlocks(host, req({ cpu: '20..', gpu: '1..' }), 8), 3)
  assert.is(matchingBlocks(host, req({ gpu: 'H100:8' }), 8), 8)
  assert.is(matchingBlocks(host, req({ gpu: 'A100' }), 8), null)
  assert.is(matchingBlocks(host, req({ gpu: 'H100:2' }, { max_price: 0.5 }), 8), null)
  assert.is(matchingBlocks(offer({ cpus: 8, memory: 32 }), req(), 1), 1)
})

test.run()
