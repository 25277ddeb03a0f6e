// Which sessions keep a dev environment alive (SPEC §5.6): any open one; of the ended ones, only
// those that lasted 10 s or more. Idle time counts from the job's start, or the tracker's start
// (a daemon restart), or the end of the last session that counts, whichever is latest.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createActivity, SHORT_SESSION_MS } from '../../../daemon/ssh/activity.ts'

function clock (start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => { t += ms } }
}

test('idle since the job started when nobody ever connected, or since the tracker started if later', () => {
  const c = clock()
  const a = createActivity({ now: c.now })
  assert.is(a.idleSince('j', c.now() - 5000), c.now(), 'a job older than the tracker counts from the tracker (a restart)')
  c.advance(1000)
  assert.is(a.idleSince('j', c.now()), c.now())
})

test('an open session, however young, keeps the job active', () => {
  const c = clock()
  const a = createActivity({ now: c.now })
  const close = a.open('j')
  c.advance(1000)
  assert.is(a.idleSince('j', 0), null)
  assert.is(a.count('j'), 1)
  close()
  close() // twice changes nothing
  assert.is(a.count('j'), 0)
})

test('a session shorter than 10 s does not reset the idle time; a longer one does, from its end', () => {
  const c = clock()
  const a = createActivity({ now: c.now })
  const began = c.now()
  c.advance(60_000)
  const short = a.open('j')
  c.advance(SHORT_SESSION_MS - 1)
  short()
  assert.is(a.idleSince('j', began), began)
  const long = a.open('j')
  c.advance(SHORT_SESSION_MS)
  long()
  assert.is(a.idleSince('j', began), c.now())
})

test('sessions of one job are counted apart from another\'s, and overlapping ones all count', () => {
  const c = clock()
  const a = createActivity({ now: c.now })
  const x1 = a.open('x')
  const x2 = a.open('x')
  const y = a.open('y')
  x1()
  assert.is(a.idleSince('x', 0), null, 'one of two still open')
  y()
  assert.is(a.idleSince('y', 0), c.now())
  x2()
  assert.is(a.count('x'), 0)
  a.forget('x')
})

test.run()
