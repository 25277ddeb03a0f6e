// Artifacts are kept per project: main's where they always were, another project's apart, so
// a run of the same name in two projects never shares them.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { artifactsDir } from '../../../daemon/agent/artifacts.ts'

test('main keeps the old layout; another project its own folder', () => {
  assert.is(artifactsDir('/d', { project: 'main', name: 'train' }), '/d/artifacts/train')
  assert.is(artifactsDir('/d', { project: 'team', name: 'train' }), '/d/projects/team/artifacts/train')
})

test('a main run named like a project never meets that project\'s runs', () => {
  const mainRun = artifactsDir('/d', { project: 'main', name: 'projects' })
  const teamRun = artifactsDir('/d', { project: 'team', name: 'train' })
  assert.not.ok(teamRun.startsWith(mainRun + '/'))
})

test.run()
