// What stops dstackd on a host, found before anything is installed: each cause with its fix.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { hostProblems, MIN_FREE_KIB } from '../../../../drivers/backends/ssh/check.ts'
import type { HostFacts } from '../../../../drivers/backends/ssh/types.ts'

const good: HostFacts = {
  arch: 'x86_64', os: 'ubuntu 22.04', freeKib: MIN_FREE_KIB * 10, gpuDriver: 'nvidia', containerEngine: '24.0.7',
  root: false, passwordlessSudo: true, systemd: true, node: 'v20.11.1', home: '/home/ubuntu'
}

test('a host with root or passwordless sudo, node 20.6+, x86_64 and room has no problems', () => {
  assert.equal(hostProblems(good, 'ubuntu'), [])
  assert.equal(hostProblems({ ...good, root: true, passwordlessSudo: false }, 'root'), [])
})

const cases: Array<[string, Partial<HostFacts>, RegExp]> = [
  ['sudo asks for a password', { passwordlessSudo: false }, /^sudo asks for a password — give `ubuntu` passwordless sudo or connect as root$/],
  ['no node', { node: null }, /Node\.js is not installed .* install Node\.js 20\.6 or later/],
  ['an old node', { node: 'v18.19.0' }, /Node\.js is v18\.19\.0, dstackd needs 20\.6 or later — upgrade Node\.js/],
  ['node 20.5', { node: 'v20.5.1' }, /needs 20\.6 or later/],
  ['an ARM CPU', { arch: 'aarch64' }, /the CPU is aarch64; the bundle is built for x86_64/],
  ['a full disk', { freeKib: 1024 }, /only 1 MB free in \/home\/ubuntu, dstackd needs 200 MB — free some space/],
  ['no home', { home: '' }, /no home directory/]
]
for (const [what, facts, message] of cases) {
  test(`problem: ${what}`, () => {
    const problems = hostProblems({ ...good, ...facts }, 'ubuntu')
    assert.is(problems.length, 1, problems.join('\n'))
    assert.match(problems[0]!, message)
  })
}

test('every problem is reported at once', () => {
  assert.is(hostProblems({ ...good, passwordlessSudo: false, node: null }, 'ubuntu').length, 2)
})

test.run()
