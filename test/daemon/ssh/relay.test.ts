// The exec relay's first frame (relay.ts parseOpen): what a peer may ask for, and a clear
// refusal naming the field for anything else.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseOpen } from '../../../daemon/ssh/relay.ts'

const open = (request: unknown, job: unknown = 'sub-1') => ({ open: { job, request } })

test('a command, a subsystem, a tty and env are taken as they are', () => {
  assert.equal(parseOpen(open({ command: 'echo hi', tty: { cols: 80, rows: 24, term: 'xterm' }, env: { LANG: 'C' } })), {
    job: 'sub-1', request: { command: 'echo hi', tty: { cols: 80, rows: 24, term: 'xterm' }, env: { LANG: 'C' } }
  })
  assert.equal(parseOpen(open({ subsystem: 'sftp' })).request, { subsystem: 'sftp' })
  assert.equal(parseOpen(open({})).request, {}, 'no command: the login shell')
})

const bad: Array<[string, unknown, RegExp]> = [
  ['no open', { hello: 1 }, /expected \{"open"/],
  ['a job id with a path in it', open({}, '../etc'), /open\.job/],
  ['a job id that is not a string', open({}, 7), /open\.job/],
  ['a request that is not an object', open([1]), /open\.request: expected an object/],
  ['a command that is not a string', open({ command: ['ls'] }), /open\.request\.command/],
  ['another subsystem', open({ subsystem: 'x11' }), /only "sftp"/],
  ['a tty of size 0', open({ tty: { cols: 0, rows: 24 } }), /open\.request\.tty/],
  ['a tty far too large', open({ tty: { cols: 80, rows: 1e9 } }), /open\.request\.tty/],
  ['an env name with =', open({ env: { 'A=B': 'x' } }), /open\.request\.env: "A=B"/],
  ['an env value that is not a string', open({ env: { A: 1 } }), /open\.request\.env/]
]

for (const [what, frame, message] of bad) {
  test(`refused: ${what}`, () => {
    assert.throws(() => parseOpen(frame as Record<string, unknown>), message)
  })
}

test.run()
