import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { isReservedPort, mergePorts, parsePortMapping, parseServicePort } from '../../../daemon/config/ports.ts'
import type { PortMapping } from '../../../daemon/config/types.ts'
import { fails, orConfigError } from './helpers.ts'

const pm = (local_port: number | null, container_port: number): PortMapping => ({ local_port, container_port })

const VALID: Array<[string, unknown, PortMapping]> = [
  ['int maps a port to itself', 8080, pm(8080, 8080)],
  ['numeric string maps a port to itself', '8080', pm(8080, 8080)],
  ['"L:C"', '80:8080', pm(80, 8080)],
  ['"*:C" is any free local port', '*:8080', pm(null, 8080)],
  ['the lowest port', 1, pm(1, 1)],
  ['the highest port', '65535:65535', pm(65535, 65535)],
  ['a float with no fraction is an int', 8080.0, pm(8080, 8080)],
  ['object with both ports', { local_port: 3000, container_port: 80 }, pm(3000, 80)],
  ['object without local_port', { container_port: 80 }, pm(null, 80)],
  ['object with null local_port', { local_port: null, container_port: 80 }, pm(null, 80)],
  ['object with numeric strings', { local_port: '3000', container_port: '80' }, pm(3000, 80)]
]

for (const [rule, input, expected] of VALID) {
  test(`ports: ${rule}`, () => assert.equal(parsePortMapping(input), expected))
}

const INVALID: Array<[string, unknown, RegExp, Array<string | number>]> = [
  ['zero', 0, /expected a port number 1\.\.65535, got 0/, []],
  ['above 65535', 65536, /expected a port number 1\.\.65535, got 65536/, []],
  ['negative', -1, /1\.\.65535, got -1/, []],
  ['huge', 1e300, /1\.\.65535/, []],
  ['a fraction', 80.5, /expected a port number, got 80.5/, []],
  ['"L:C" with a port out of range', '80:70000', /1\.\.65535, got "70000"/, []],
  ['"0:80"', '0:80', /1\.\.65535, got "0"/, []],
  ['two colons', '1:2:3', /expected a port mapping.*"1:2:3"/, []],
  ['"C:*"', '80:*', /expected a port mapping/, []],
  ['a bare "*"', '*', /expected a port mapping/, []],
  ['an empty string', '', /expected a port mapping.*got ""/, []],
  ['spaces', ' 80', /expected a port mapping/, []],
  ['a boolean', true, /expected a port mapping.*got true/, []],
  ['null', null, /expected a port mapping.*got null/, []],
  ['a list', [80], /expected a port mapping/, []],
  ['object without container_port', { local_port: 80 }, /is required/, ['container_port']],
  ['object with an unknown key, with a suggestion', { container_port: 80, local: 1 }, /unknown field "local"/, ['local']],
  ['object with a bad local_port', { local_port: 'x', container_port: 80 }, /expected a port number, got "x"/, ['local_port']],
  ['object with a boolean port', { container_port: true }, /expected a port number, got true/, ['container_port']]
]

for (const [rule, input, message, path] of INVALID) {
  test(`ports: ${rule} is an error`, () => fails(() => parsePortMapping(input), message, path))
}

const SERVICE: Array<[string, unknown, PortMapping]> = [
  ['int N → local 80', 8000, pm(80, 8000)],
  ['numeric string → local 80', '8000', pm(80, 8000)],
  ['"L:C"', '8080:8000', pm(8080, 8000)],
  ['object', { container_port: 8000 }, pm(null, 8000)]
]

for (const [rule, input, expected] of SERVICE) {
  test(`service port: ${rule}`, () => assert.equal(parseServicePort(input), expected))
}

test('service port: bad forms', () => {
  fails(() => parseServicePort('*:8000'), /expected a port \(8000, "80:8000"/)
  fails(() => parseServicePort(0), /1\.\.65535/)
  fails(() => parseServicePort(null), /got null/)
  fails(() => parseServicePort('80:0'), /1\.\.65535/)
  fails(() => parseServicePort({ port: 80 }), /unknown field "port"/, ['port'])
})

test('mergePorts: a CLI entry replaces the one with the same container port, in its place', () => {
  assert.equal(mergePorts([pm(8080, 8080), pm(9000, 9000)], [pm(18080, 8080)]), [pm(18080, 8080), pm(9000, 9000)])
  assert.equal(mergePorts([pm(8080, 8080)], [pm(null, 7000)]), [pm(8080, 8080), pm(null, 7000)])
  assert.equal(mergePorts([], []), [])
  // The CLI moves a local port out of the way of another entry.
  assert.equal(mergePorts([pm(80, 80), pm(81, 81)], [pm(82, 81)]), [pm(80, 80), pm(82, 81)])
  // Any-free-port entries never clash.
  assert.equal(mergePorts([pm(null, 80), pm(null, 81)], []), [pm(null, 80), pm(null, 81)])
})

test('mergePorts: duplicates are "Port N is already in use"', () => {
  fails(() => mergePorts([pm(80, 80), pm(81, 80)], []), /^Port 80 is already in use$/)
  fails(() => mergePorts([], [pm(80, 80), pm(81, 80)]), /^Port 80 is already in use$/)
  fails(() => mergePorts([pm(8080, 80), pm(8080, 81)], []), /^Port 8080 is already in use$/)
  fails(() => mergePorts([pm(8080, 80)], [pm(8080, 81)]), /^Port 8080 is already in use$/)
})

test('isReservedPort: 10000–10999', () => {
  assert.equal([9999, 10000, 10022, 10999, 11000].map(isReservedPort), [false, true, true, true, false])
})

// Fuzz: random strings over a small alphabet and random nested values. (No null-prototype
// mappings: show() in errors.ts cannot print one that holds a BigInt; YAML gives neither.)
const ALPHABET = [...':/.@*0123456789ab~=${} ']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 16 })
const key = fc.oneof(fc.constantFrom('local_port', 'container_port'), str)
const { value } = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    str, fc.integer(), fc.integer({ min: -2, max: 70000 }), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.bigInt(),
    fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: true }))
}))

test('ports fuzz: only ConfigError, and a normalized mapping parses to itself', () => {
  fc.assert(fc.property(value, v => {
    const out = orConfigError(() => parsePortMapping(v))
    if (out !== undefined) assert.equal(parsePortMapping(out), out)
    const svc = orConfigError(() => parseServicePort(v))
    if (svc !== undefined) assert.equal(parseServicePort(svc), svc)
  }), { numRuns: 4000 })
})

test('mergePorts fuzz: only ConfigError; the result has unique container and local ports', () => {
  const port = fc.integer({ min: 1, max: 6 })
  const mapping = fc.record({ local_port: fc.option(port), container_port: port })
  fc.assert(fc.property(fc.array(mapping, { maxLength: 4 }), fc.array(mapping, { maxLength: 3 }), (config, cli) => {
    const out = orConfigError(() => mergePorts(config, cli))
    if (out === undefined) return
    assert.is(new Set(out.map(p => p.container_port)).size, out.length)
    const locals = out.map(p => p.local_port).filter(p => p !== null)
    assert.is(new Set(locals).size, locals.length)
    for (const p of cli) assert.ok(out.includes(p))
  }), { numRuns: 3000 })
})

test.run()
