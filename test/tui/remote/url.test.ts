// ssh:// URLs of a node's gateway: the grammar, row by row.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isSshUrl, parseSshUrl, sshUrlOf } from '../../../tui/remote/url.ts'

const GOOD: Array<[string, { user: string, host: string, port: number }]> = [
  ['ssh://gpu-01', { user: 'dstack', host: 'gpu-01', port: 10022 }],
  ['ssh://gpu-01:2222', { user: 'dstack', host: 'gpu-01', port: 2222 }],
  ['ssh://alice@10.0.0.5:10022', { user: 'alice', host: '10.0.0.5', port: 10022 }],
  ['ssh://[::1]:10023', { user: 'dstack', host: '::1', port: 10023 }],
  ['SSH://h/', { user: 'dstack', host: 'h', port: 10022 }]
]
for (const [url, want] of GOOD) {
  test(`parses ${url}`, () => {
    const { user, host, port } = parseSshUrl(url)
    assert.equal({ user, host, port }, want)
  })
}

const BAD: Array<[string, RegExp]> = [
  ['ssh://', /expected ssh:\/\/\[user@\]host\[:port\]/],
  ['ssh://h:0', /the port must be 1-65535/],
  ['ssh://h:70000', /the port must be 1-65535/],
  ['ssh://h/path', /expected ssh:\/\//]
]
for (const [url, message] of BAD) {
  test(`refuses ${url}, naming it`, () => {
    assert.throws(() => parseSshUrl(url), (err: Error) => message.test(err.message) && err.message.startsWith(url))
  })
}

test('isSshUrl tells ssh:// from a socket path', () => {
  assert.ok(isSshUrl('ssh://h'))
  assert.not.ok(isSshUrl('/root/.dstack/dstackd/api.sock'))
})

test('sshUrlOf puts IPv6 in brackets', () => {
  assert.is(sshUrlOf('::1', 10022), 'ssh://[::1]:10022')
  assert.is(parseSshUrl(sshUrlOf('::1', 10022)).host, '::1')
})

test.run()
