import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { ConfigError } from '../../../daemon/config/errors.ts'
import { checkTemplate, interpolate, parseTemplate, templateReferences, type Reference } from '../../../daemon/config/interpolate.ts'
import { fails, orConfigError } from './helpers.ts'

const ref = (ns: string, name: string, raw: string): Reference => ({ ns, name, key: `${ns}.${name}`, raw })

const PARSE: Array<[string, string, Array<string | Reference>]> = [
  ['plain text', 'echo hi', ['echo hi']],
  ['empty', '', []],
  ['a reference', '${{ secrets.hf_token }}', [ref('secrets', 'hf_token', '${{ secrets.hf_token }}')]],
  ['no spaces inside the braces', 'a${{env.X}}b', ['a', ref('env', 'X', '${{env.X}}'), 'b']],
  ['extra spaces inside the braces', '${{   run.args\t}}', [ref('run', 'args', '${{   run.args\t}}')]],
  ['$$ escapes $', 'cost: $$5', ['cost: $5']],
  ['$$ before a template escapes it', '$${{ env.X }}', ['${{ env.X }}']],
  ['$$$ before a template: an escaped $, then the template', '$$${{ env.X }}', ['$', ref('env', 'X', '${{ env.X }}')]],
  ['a lone $ is literal', 'echo $HOME ${PATH} $', ['echo $HOME ${PATH} $']],
  ['"${" without a second brace is literal', '${ x }', ['${ x }']],
  ['a lone $ does not hide a later escape', '$x $${{ a.b }}', ['$x ${{ a.b }}']],
  ['a third closing brace is literal', '${{ a.b }}}', [ref('a', 'b', '${{ a.b }}'), '}']],
  ['underscores and digits in names', '${{ _a1._b2 }}', [ref('_a1', '_b2', '${{ _a1._b2 }}')]]
]

for (const [rule, input, expected] of PARSE) {
  test(`template: ${rule}`, () => assert.equal(parseTemplate(input), expected))
}

test('template: group member IP references', () => {
  assert.equal(templateReferences('ping ${{ groups[0].nodes[12].IP_ADDRESS }}'), [{
    ns: 'groups', name: '[0].nodes[12].IP_ADDRESS', key: 'groups[0].nodes[12].IP_ADDRESS',
    raw: '${{ groups[0].nodes[12].IP_ADDRESS }}', group: { index: 0, kind: 'nodes', member: 12 }
  }])
  assert.equal(templateReferences('${{groups[3].replicas[1].IP_ADDRESS}}')[0]!.group, { index: 3, kind: 'replicas', member: 1 })
})

const ILLEGAL: Array<[string, string, RegExp]> = [
  ['an unclosed template', 'echo ${{ secrets.x', /unclosed template "\$\{\{ secrets\.x": expected "}}"/],
  ['an unclosed template with a single brace', '${{ secrets.x }', /unclosed template/],
  ['a name without a dot', '${{ token }}', /illegal reference name "token"/],
  ['a name with two dots', '${{ a.b.c }}', /illegal reference name "a\.b\.c"/],
  ['an empty name', '${{ }}', /illegal reference name ""/],
  ['a leading dot', '${{ .b }}', /illegal reference name "\.b"/],
  ['a trailing dot', '${{ a. }}', /illegal reference name "a\."/],
  ['a digit first', '${{ 1a.b }}', /illegal reference name "1a\.b"/],
  ['a digit first after the dot', '${{ a.1b }}', /illegal reference name "a\.1b"/],
  ['a dash', '${{ a.b-c }}', /illegal reference name/],
  ['a space inside the name', '${{ a. b }}', /illegal reference name "a\. b"/],
  ['a plain groups name', '${{ groups.x }}', /illegal reference name "groups\.x".*groups\[i\]\.nodes\[j\]\.IP_ADDRESS/],
  ['a groups name with another field', '${{ groups[0].nodes[1].HOSTNAME }}', /illegal reference name.*groups\[i\]\.nodes\[j\]\.IP_ADDRESS/],
  ['a negative group index', '${{ groups[-1].nodes[0].IP_ADDRESS }}', /illegal reference name/],
  ['the second template of several', '${{ a.b }} ${{ c }}', /illegal reference name "c"/]
]

for (const [rule, input, message] of ILLEGAL) {
  test(`template: ${rule} is an error`, () => fails(() => parseTemplate(input), message))
}

const values: Record<string, string> = { 'secrets.hf_token': 'hf_123', 'env.X': 'x', 'run.args': '--lr 1e-3' }
const lookup = (r: Reference) => values[r.key]

test('interpolate: references are replaced and $$ becomes $', () => {
  assert.is(interpolate('python train.py ${{ run.args }}', lookup), 'python train.py --lr 1e-3')
  assert.is(interpolate('$$HOME ${{env.X}}${{ env.X }} $$${{ env.X }}', lookup), '$HOME xx $x')
  assert.is(interpolate('$${{ env.X }}', lookup), '${{ env.X }}')
  assert.is(interpolate('no templates, $ alone', lookup), 'no templates, $ alone')
})

test('interpolate: a missing value is "<ref> is not set", each named once', () => {
  fails(() => interpolate('${{ secrets.missing }}', lookup), /^secrets\.missing is not set$/)
  let caught: ConfigError | undefined
  try { interpolate('${{ a.b }} ${{ env.X }} ${{ a.b }} ${{ c.d }}', lookup) } catch (err) { caught = err as ConfigError }
  assert.equal(caught?.issues.map(i => i.message), ['a.b is not set', 'c.d is not set'])
  fails(() => interpolate('${{ groups[0].nodes[1].IP_ADDRESS }}', lookup), /^groups\[0\]\.nodes\[1\]\.IP_ADDRESS is not set$/)
})

test('interpolate: keepUnknown leaves templates as written and keeps the text re-interpolatable', () => {
  const stage1 = interpolate('$$A ${{ env.X }} ${{  secrets.hf_token}} $${{ b.c }} $', r => r.ns === 'env' ? values[r.key] : undefined, { keepUnknown: true })
  assert.is(stage1, '$$A x ${{  secrets.hf_token}} $${{ b.c }} $$')
  assert.is(interpolate(stage1, lookup), '$A x hf_123 ${{ b.c }} $')
  // Values that look like templates stay values.
  const stage = interpolate('${{ env.X }}', () => '${{ secrets.hf_token }} $$', { keepUnknown: true })
  assert.is(interpolate(stage, lookup), '${{ secrets.hf_token }} $$')
})

test('interpolate: group member references go through the lookup', () => {
  const ips = (r: Reference) => r.group ? `10.0.${r.group.index}.${r.group.member}` : undefined
  assert.is(interpolate('${{ groups[1].nodes[2].IP_ADDRESS }}:29500', ips), '10.0.1.2:29500')
})

test('checkTemplate: references outside their places are named with where they belong', () => {
  checkTemplate('${{ env.A }} ${{ secrets.b }}', ['env', 'secrets'])
  checkTemplate('${{ run.args }}', ['run.args'])
  checkTemplate('${{ groups[0].nodes[1].IP_ADDRESS }}', ['run.args', 'groups.nodes'])
  checkTemplate('plain $$ text', [])
  fails(() => checkTemplate('${{ secrets.x }}', ['env']), /^secrets\.x cannot be used here: it is allowed only in env values and registry_auth; here only env may be used$/)
  fails(() => checkTemplate('${{ run.project_name }}', ['run.args'], 'commands'), /run\.project_name cannot be used in commands: it is allowed only in a gateway domain/)
  fails(() => checkTemplate('${{ groups[0].replicas[0].IP_ADDRESS }}', ['groups.nodes']), /allowed only in service commands/)
  fails(() => checkTemplate('${{ groups[0].nodes[0].IP_ADDRESS }}', ['run.args', 'groups.replicas']), /allowed only in task commands/)
  fails(() => checkTemplate('${{ foo.bar }}', ['env']), /foo\.bar cannot be used here: unknown namespace "foo"/)
  fails(() => checkTemplate('${{ env.X }}', []), /no references may be used here/)
  fails(() => checkTemplate('${{ constructor.x }} ${{ __proto__.y }} ${{ toString.z }}', ['env']), /constructor\.x cannot be used here: unknown namespace "constructor"/)
  fails(() => checkTemplate('${{ dstack.rank }}', ['dstack']), /unknown reference dstack\.rank.*expected dstack\.job_num or dstack\.node_rank/)
  fails(() => checkTemplate('${{ env.X', ['env']), /unclosed template/)
})

// Fuzz: random strings over a small alphabet, weighted toward template syntax.
const ALPHABET = [...':/.@*0123456789ab~=${} ']
const TOKENS = ['${{ ', ' }}', '$$', '$', 'a.b', 'env.X', 'secrets.s', 'run.x', 'dstack.node_rank', 'constructor.name', 'groups[0].nodes[1].IP_ADDRESS', '{{', '}}']
const str = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 24 })
const templ = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.constantFrom(...ALPHABET)), { maxLength: 16 }).map(a => a.join(''))
const text = fc.oneof(str, templ)

// Every reference resolves to something awkward: text with `$`, `$$` and a template in it.
const all = (r: Reference) => `<${r.key}$$ $${'{{'} x.y }}>`

test('interpolate fuzz: only ConfigError; staged interpolation equals interpolating at once', () => {
  let valid = 0
  const namespaces = fc.subarray(['env', 'secrets', 'run.args', 'dstack', 'groups.nodes', 'groups.replicas'])
  fc.assert(fc.property(text, fc.constantFrom('a', 'env', 'secrets', 'groups'), namespaces, (s, early, allowed) => {
    const pieces = orConfigError(() => parseTemplate(s))
    if (pieces === undefined) return
    valid++
    orConfigError(() => checkTemplate(s, allowed))
    const once = interpolate(s, all)
    const stage1 = interpolate(s, r => r.ns === early ? all(r) : undefined, { keepUnknown: true })
    assert.is(interpolate(stage1, all), once)
    // Keeping everything changes nothing a later stage would see.
    const kept = interpolate(s, () => undefined, { keepUnknown: true })
    assert.equal(parseTemplate(kept), pieces)
  }), { numRuns: 5000 })
  assert.ok(valid > 500)
})

test.run()
