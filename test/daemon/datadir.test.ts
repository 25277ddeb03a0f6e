// The data dir: private at every start, whatever it was before; a socket path that fits.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chmod, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makePrivate, MAX_SOCKET_PATH_BYTES, socketPathOf, socketPathProblem } from '../../daemon/datadir.ts'

const mode = async (p: string) => (await stat(p)).mode & 0o7777

test('makePrivate: an existing 755 tree becomes 0700 dirs and owner-only files; links are not followed', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dstackd-datadir-'))
  try {
    const dir = join(root, 'data')
    const outside = join(root, 'outside.txt')
    await mkdir(join(dir, 'jobs', 'j1'), { recursive: true })
    await writeFile(join(dir, 'jobs', 'j1', 'spec.json'), '{"env":{"SECRET":"s"}}')
    await writeFile(join(dir, 'jobs', 'j1', 'run.sh'), '#!/bin/sh\n')
    await writeFile(outside, 'not ours')
    await symlink(outside, join(dir, 'link'))
    await chmod(dir, 0o755); await chmod(join(dir, 'jobs'), 0o755); await chmod(join(dir, 'jobs', 'j1'), 0o775)
    await chmod(join(dir, 'jobs', 'j1', 'spec.json'), 0o644); await chmod(join(dir, 'jobs', 'j1', 'run.sh'), 0o755)
    await chmod(outside, 0o644)
    assert.equal(await makePrivate(dir), [])
    assert.is(await mode(dir), 0o700)
    assert.is(await mode(join(dir, 'jobs')), 0o700)
    assert.is(await mode(join(dir, 'jobs', 'j1')), 0o700)
    assert.is(await mode(join(dir, 'jobs', 'j1', 'spec.json')), 0o600)
    assert.is(await mode(join(dir, 'jobs', 'j1', 'run.sh')), 0o700, 'an executable stays executable for its owner')
    assert.ok((await lstat(join(dir, 'link'))).isSymbolicLink())
    assert.is(await mode(outside), 0o644, 'a link target outside is not touched')
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('makePrivate: a data dir not there yet is made 0700, with its parents', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dstackd-datadir-'))
  try {
    const dir = join(root, 'a', 'b')
    assert.equal(await makePrivate(dir), [])
    assert.is(await mode(dir), 0o700)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('socketPathProblem: 107 bytes fit, 108 do not, and the error says how long the dir may be', () => {
  const dirOf = (socketBytes: number) => '/' + 'd'.repeat(socketBytes - '/api.sock'.length - 1)
  assert.is(socketPathOf(dirOf(MAX_SOCKET_PATH_BYTES)).length, 107)
  assert.is(socketPathProblem(dirOf(107)), undefined)
  const p = socketPathProblem(dirOf(108))
  assert.match(p!, /would be 108 bytes/)
  assert.match(p!, /at most 98 bytes long/)
  // Bytes, not characters: a multi-byte name counts by its bytes.
  assert.ok(socketPathProblem('/' + 'é'.repeat(50)) !== undefined)
})

test.run()
