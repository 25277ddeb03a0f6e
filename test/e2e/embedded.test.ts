// The embedded default: with nothing configured, the first `dstack` command starts a local
// dstackd in the background, writes ~/.dstack/config.yml, and the run works.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { dstack, newHome } from './harness.ts'
import { waitFor } from '../poll.ts'

test('a fresh HOME: dstack apply starts a local dstackd and runs hello', async () => {
  const { home, env } = await newHome()
  const dataDir = join(home, '.dstack', 'dstackd')
  try {
    const r = await dstack({ env }, ['apply', '-f', 'examples/hello/.dstack.yml', '-y'])
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stderr, /Started a local dstackd/)
    assert.match(r.stdout, /Hello from dstackd/)
    const config = await readFile(join(home, '.dstack', 'config.yml'), 'utf8')
    assert.match(config, /api\.sock/)
    assert.is((await stat(join(home, '.dstack', 'config.yml'))).mode & 0o777, 0o600)
    assert.is((await stat(join(dataDir, 'token'))).mode & 0o777, 0o600)
    // The second command finds the running daemon through the config.
    const ps = await dstack({ env }, ['ps'])
    assert.is(ps.code, 0)
    assert.not.match(ps.stderr, /Started/)
    assert.match(ps.stdout, /hello/)
  } finally {
    try { execFileSync('pkill', ['-f', '--', `--data-dir ${dataDir}`]) } catch { /* already gone */ }
    await waitFor(() => { try { execFileSync('pgrep', ['-f', '--', `--data-dir ${dataDir}`]); return false } catch { return true } }, { what: 'the local dstackd to stop', timeout: 10_000 }).catch(() => undefined)
    await rm(home, { recursive: true, force: true })
  }
})

test.run()
