import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, formatPath, nearest } from '../../../daemon/config/errors.ts'

test('formatPath: keys, indexes and odd keys', () => {
  assert.is(formatPath(['groups', 0, 'name']), 'groups[0].name')
  assert.is(formatPath(['env', 'a b']), 'env["a b"]')
})

test('nearest: a typo finds its field, an unrelated word finds none', () => {
  assert.is(nearest('resorces', ['resources', 'commands']), 'resources')
  assert.is(nearest('zzzzzz', ['resources', 'commands']), undefined)
})

test('ConfigError.under prefixes every issue', () => {
  const e = new ConfigError([{ path: ['count'], message: 'bad' }]).under(['resources', 'gpu'])
  assert.equal(e.issues[0]!.path, ['resources', 'gpu', 'count'])
  assert.is(e.message, 'resources.gpu.count: bad')
})

test.run()
