// tui/bin.js is shell and JavaScript at once: run as a program it starts Node (on tui/start.cjs) without
// NODE_EXTRA_CA_CERTS (which the client never needs) and puts the variable back for what the
// client passes on; run as `node tui/bin.js` it is plain JavaScript.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, ROOT, startDaemon, writeConfig } from '../e2e/harness.ts'

const BIN = join(ROOT, 'tui', 'bin.js')
// Node warns at start-up when it cannot load the file this names: the warning tells whether
// the Node that ran the client saw the variable.
const MISSING = '/nonexistent/dstack-test-ca.pem'
const env = { ...process.env, NODE_EXTRA_CA_CERTS: MISSING }

test('run as a program: Node starts without NODE_EXTRA_CA_CERTS', () => {
  const r = spawnSync(BIN, ['--version'], { env, encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /^dstack \d/)
  assert.not.match(r.stderr, /extra certs/i)
})

test('run through a link (as npm installs bins) and with the sources instead of the bundle', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstack-bin-'))
  try {
    await symlink(BIN, join(dir, 'dstack'))
    for (const extra of [{}, { DSTACK_NO_BUNDLE: '1' }]) {
      const r = spawnSync(join(dir, 'dstack'), ['--version'], { env: { ...env, ...extra }, encoding: 'utf8' })
      assert.is(r.status, 0, r.stderr)
      assert.match(r.stdout, /^dstack \d/)
      assert.not.match(r.stderr, /extra certs/i)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('run through node: the same client, and Node read the variable (the control)', () => {
  const r = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /^dstack \d/)
  assert.match(r.stderr, /extra certs/i)
})

test('the variable comes back for what the client passes on: a job that takes it from the shell', async () => {
  const d = await startDaemon()
  try {
    const file = await writeConfig(d.home, 'ca.dstack.yml', 'type: task\nenv: [NODE_EXTRA_CA_CERTS]\ncommands: [\'echo "ca=[$NODE_EXTRA_CA_CERTS]"\']\n')
    const r = await new Promise<{ code: number | null, out: string }>((resolve, reject) => {
      const child = spawnSync(BIN, ['apply', '-f', file, '-y'], { env: { ...d.env, NODE_EXTRA_CA_CERTS: MISSING }, encoding: 'utf8' })
      if (child.error) reject(child.error); else resolve({ code: child.status, out: child.stdout + child.stderr })
    })
    assert.is(r.code, 0, r.out)
    assert.match(r.out, `ca=[${MISSING}]`)
    assert.not.match(r.out, /DSTACK_NODE_EXTRA_CA_CERTS/)
  } finally {
    await d.cleanup()
  }
})

test.run()
