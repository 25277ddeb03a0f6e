// The autopilot's choices: who learns, who votes, and that no choice ever costs the quorum.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decide, targetVoters, type Health } from '../../mesh/autopilot.ts'

function health (alive: string[], dead: string[] = [], caughtUp: string[] = alive, removed: string[] = []): Health {
  return { alive: new Set(alive), dead: new Set(dead), caughtUp: new Set(caughtUp), removed: new Set(removed) }
}

test('targets: 1, 3 or 5 voters', () => {
  assert.equal([0, 1, 2, 3, 4, 5, 6, 50].map(targetVoters), [1, 1, 1, 3, 3, 5, 5, 5])
})

test('a host heard from joins as a learner, then votes once three are healthy', () => {
  const m = { leader: 'a', voters: ['a'], learners: [] as string[] }
  assert.equal(decide(m, health(['a', 'b'])), { type: 'addLearner', node: 'b' })
  assert.is(decide({ ...m, learners: ['b'] }, health(['a', 'b'])), null, 'two hosts: one voter')
  assert.equal(decide({ ...m, learners: ['b', 'c'] }, health(['a', 'b', 'c'])), { type: 'addVoter', node: 'b' })
  assert.equal(decide({ leader: 'a', voters: ['a', 'b'], learners: ['c'] }, health(['a', 'b', 'c'])), { type: 'addVoter', node: 'c' })
  assert.is(decide({ leader: 'a', voters: ['a', 'b', 'c'], learners: ['d'] }, health(['a', 'b', 'c', 'd'])), null, 'four hosts: three voters')
})

test('a learner still catching up is not promoted, and a half-done promotion is not undone', () => {
  const m = { leader: 'a', voters: ['a', 'b', 'c', 'd'], learners: ['e'] }
  assert.is(decide(m, health(['a', 'b', 'c', 'd', 'e'], [], ['a', 'b', 'c', 'd'])), null)
  assert.equal(decide(m, health(['a', 'b', 'c', 'd', 'e'])), { type: 'addVoter', node: 'e' })
})

test('the leader\'s death or any minority\'s never shrinks three voters; a dead voter is replaced by a healthy learner first', () => {
  // A new leader whose old colleague is silent but not yet dead: nothing.
  assert.is(decide({ leader: 'b', voters: ['a', 'b', 'c'], learners: [] }, health(['b', 'c'])), null)
  // Dead for long, no learner to replace it: it stays a voter (it votes again when back).
  assert.is(decide({ leader: 'b', voters: ['a', 'b', 'c'], learners: [] }, health(['b', 'c'], ['a'])), null)
  // A healthy learner: promoted first, then the dead voter demoted.
  assert.equal(decide({ leader: 'b', voters: ['a', 'b', 'c'], learners: ['d'] }, health(['b', 'c', 'd'], ['a'])), { type: 'addVoter', node: 'd' })
  assert.equal(decide({ leader: 'b', voters: ['a', 'b', 'c', 'd'], learners: [] }, health(['b', 'c', 'd'], ['a'])), { type: 'addLearner', node: 'a' })
})

test('five voters, two dead: down to three healthy ones, one step at a time, never the leader', () => {
  let m = { leader: 'c', voters: ['a', 'b', 'c', 'd', 'e'], learners: [] as string[] }
  const h = health(['c', 'd', 'e'], ['a', 'b'])
  const steps = []
  for (let change = decide(m, h); change !== null; change = decide(m, h)) {
    steps.push(change)
    assert.is.not(change.node, 'c')
    m = { ...m, voters: m.voters.filter(v => v !== change!.node), learners: [...m.learners, change.node] }
    // A change only ever leaves a quorum of healthy voters.
    assert.ok(m.voters.filter(v => h.alive.has(v)).length > m.voters.length / 2)
  }
  assert.equal(m.voters.sort(), ['c', 'd', 'e'])
  assert.is(steps.length, 2)
})

test('an even count of healthy voters left behind is trimmed, never leaving the leader', () => {
  assert.equal(decide({ leader: 'a', voters: ['a', 'b', 'c', 'd'], learners: [] }, health(['a', 'b', 'c', 'd'])), { type: 'addLearner', node: 'd' })
  assert.equal(decide({ leader: 'd', voters: ['a', 'b', 'c', 'd'], learners: [] }, health(['a', 'b', 'c', 'd'])), { type: 'addLearner', node: 'c' })
  assert.is(decide({ leader: 'a', voters: ['a', 'b', 'c', 'd'], learners: [] }, health(['a', 'b', 'c'])), null, 'not while one is silent')
})

test('a deleted host leaves the membership, is never added back, and a voter takes its place', () => {
  // d deleted while a learner, still alive (its daemon runs on): removed, and not added again
  assert.equal(decide({ leader: 'a', voters: ['a', 'b', 'c'], learners: ['d'] }, health(['a', 'b', 'c', 'd'], [], undefined, ['d'])), { type: 'remove', node: 'd' })
  assert.is(decide({ leader: 'a', voters: ['a', 'b', 'c'], learners: [] }, health(['a', 'b', 'c', 'd'], [], undefined, ['d'])), null)
  // a dead voter deleted: it goes first, then a learner is promoted to keep three voters
  let m = { leader: 'a', voters: ['a', 'b', 'c'], learners: ['d', 'e'] }
  const h = health(['a', 'b', 'd', 'e'], ['c'], undefined, ['c'])
  assert.equal(decide(m, h), { type: 'remove', node: 'c' })
  m = { ...m, voters: ['a', 'b'] }
  assert.equal(decide(m, h), { type: 'addVoter', node: 'd' })
  // a deleted learner is never promoted, even when voters are short
  assert.is(decide({ leader: 'a', voters: ['a'], learners: [] }, health(['a', 'b', 'c'], [], undefined, ['b', 'c'])), null)
  // the leader never removes itself
  assert.is(decide({ leader: 'a', voters: ['a', 'b', 'c'], learners: [] }, health(['a', 'b', 'c'], [], undefined, ['a'])), null)
})

test.run()
