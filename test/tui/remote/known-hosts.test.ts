// Host key pinning in an OpenSSH known_hosts file: first use pins, the same key passes, another
// key is refused with both fingerprints and the line to remove; `ssh-keygen` reads the file.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import ssh2 from 'ssh2'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkHostKey, fingerprint, HostKeyChanged, hostPattern } from '../../../tui/remote/known-hosts.ts'

let dir: string
const blobOf = (): Buffer => {
  const parsed = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public)
  if (parsed instanceof Error) throw parsed
  return (Array.isArray(parsed) ? parsed[0]! : parsed).getPublicSSH()
}
const a = blobOf()
const b = blobOf()

test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'dstack-known-')) })
test.after(async () => { await rm(dir, { recursive: true, force: true }) })

test('hostPattern: bare on port 22, [host]:port elsewhere', () => {
  assert.is(hostPattern('gpu-01', 22), 'gpu-01')
  assert.is(hostPattern('127.0.0.1', 10022), '[127.0.0.1]:10022')
})

test('first use pins, the same key then passes, one line per host', async () => {
  const file = join(dir, 'first')
  assert.is(await checkHostKey('127.0.0.1', 10022, a, file), 'pinned')
  assert.is(await checkHostKey('127.0.0.1', 10022, a, file), 'known')
  assert.is(await checkHostKey('127.0.0.1', 10023, b, file), 'pinned')
  assert.is(await readFile(file, 'utf8'), `[127.0.0.1]:10022 ssh-ed25519 ${a.toString('base64')}\n[127.0.0.1]:10023 ssh-ed25519 ${b.toString('base64')}\n`)
})

test('OpenSSH finds the pinned key in the same file', async () => {
  const file = join(dir, 'first')
  let out: string
  try {
    out = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:10022', '-f', file], { encoding: 'utf8' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') { console.log('  (ssh-keygen not installed: not checked)'); return }
    throw err
  }
  assert.match(out, /Host \[127\.0\.0\.1\]:10022 found: line 1/)
})

test('another key is refused with the host, both fingerprints and the fix', async () => {
  const file = join(dir, 'changed')
  await writeFile(file, `# a comment\n[h]:10022 ssh-ed25519 ${a.toString('base64')}\n`)
  try {
    await checkHostKey('h', 10022, b, file)
    assert.unreachable('a changed key passed')
  } catch (err) {
    assert.instance(err, HostKeyChanged)
    const e = err as HostKeyChanged
    assert.is(e.line, 2)
    assert.ok(e.message.includes('[h]:10022'))
    assert.ok(e.message.includes(fingerprint(a)) && e.message.includes(fingerprint(b)))
    assert.match(e.message, /remove that line/)
  }
  // Nothing was added for the offered key.
  assert.is((await readFile(file, 'utf8')).split('\n').filter(Boolean).length, 2)
})

test('fingerprint is OpenSSH\'s SHA256 form', () => {
  assert.match(fingerprint(a), /^SHA256:[A-Za-z0-9+/]{43}$/)
})

test.run()
