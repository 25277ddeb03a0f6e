// When a host says it does not reach its mesh: only when something is wrong.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { reachProblem, type ReachFacts } from '../../daemon/reach.ts'

const facts = (f: Partial<ReachFacts>): ReachFacts => ({ role: 'leader', connected: 0, members: 0, joinAddresses: [], ...f })

test('a founder alone in its mesh: nothing to say', () => {
  assert.is(reachProblem(facts({})), undefined)
})

test('a member that reaches another member: nothing to say', () => {
  assert.is(reachProblem(facts({ role: 'voter', connected: 1, members: 2 })), undefined)
})

test('a joining host that reaches nobody: a warning with the token\'s addresses', () => {
  const p = reachProblem(facts({ role: 'joining', joinAddresses: ['/ip4/127.0.0.1/tcp/1/p2p/x'] }))
  assert.is(p?.level, 'warn')
  assert.match(p!.msg, /join token's addresses are reachable/)
  assert.equal(p!.fields, { addresses: ['/ip4/127.0.0.1/tcp/1/p2p/x'] })
})

test('a joining host connected but not yet added: info, not a warning', () => {
  assert.is(reachProblem(facts({ role: 'joining', connected: 1 }))?.level, 'info')
})

test('a member none of whose fellow members answers: a warning, not about the join token', () => {
  const p = reachProblem(facts({ role: 'voter', members: 2 }))
  assert.is(p?.level, 'warn')
  assert.not.match(p!.msg, /join token/)
})

test.run()
