// A data dir written by a dstackd from before users and projects (this repository's own code
// of that time, from git) starts under today's dstackd and keeps its runs, in project main,
// with the data dir's token as the first admin's.
import * as assert from 'uvu/assert'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, runBin, ROOT, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { suiteNeeding } from '../skip.ts'
import { waitFor } from '../poll.ts'

let d: Daemon | undefined
let work: string
let old: string

/** The commit before users and projects: the parent of the one that added daemon/state/users.ts. */
function oldCommit (): string | undefined {
  try {
    const added = execFileSync('git', ['-C', ROOT, 'log', '--diff-filter=A', '--format=%H', '--', 'daemon/state/users.ts'], { encoding: 'utf8' }).trim().split('\n').at(-1)
    if (!added) return undefined
    return execFileSync('git', ['-C', ROOT, 'rev-parse', `${added}^`], { encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}

const commit = oldCommit()
const test = suiteNeeding(import.meta.url, 'git history', commit === undefined ? 'no commit before daemon/state/users.ts in this checkout (a shallow clone?)' : null)

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-upgrade-'))
  old = join(work, 'old')
  execFileSync('sh', ['-c', `mkdir -p "${old}" && git -C "${ROOT}" archive ${commit!} | tar -x -C "${old}"`])
  await symlink(join(ROOT, 'node_modules'), join(old, 'node_modules'))
})

test.after(async () => {
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('an old data dir upgrades: its runs stay, in main; the admin and main exist', async () => {
  // A home and data dir as the harness makes them; then the old dstackd writes the data dir.
  d = await startDaemon()
  await d.stop()
  await rm(d.dataDir, { recursive: true, force: true })
  const oldDaemon = spawn(process.execPath, [join(old, 'daemon', 'bin.js'), 'run', '--data-dir', d.dataDir, '--name', 'e2e-host', '--listen', '/ip4/127.0.0.1/tcp/0'], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  oldDaemon.stdout!.on('data', b => { out += b })
  oldDaemon.stderr!.on('data', b => { out += b })
  const exited = new Promise(resolve => oldDaemon.once('exit', resolve))
  try {
    await waitFor(() => out.includes('dstackd ready'), { what: 'the old dstackd to start', timeout: 60_000 })
    const file = await writeConfig(work, 'old.dstack.yml', 'type: task\nname: oldrun\ncommands: [echo old-output]\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
    const r = await runBin(join(old, 'tui', 'bin.js'), ['apply', '-f', file, '-y'], { env: d.env })
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /old-output/)
  } finally {
    oldDaemon.kill('SIGTERM')
    await exited
  }
  assert.not.match(out, /users|seeded/, 'the old dstackd knew nothing of users')

  await d.start()
  const ps = await dstack(d, ['ps', '-a', '--json'])
  assert.is(ps.code, 0, ps.stderr)
  const listed = JSON.parse(ps.stdout)
  assert.is(listed.project, 'main')
  const run = listed.runs.find((x: { name: string }) => x.name === 'oldrun')
  assert.ok(run, 'the old run is still there')
  assert.is(run.status, 'done')
  const logs = await dstack(d, ['logs', 'oldrun'])
  assert.match(logs.stdout, /old-output/)
  const users = await runBin(join(ROOT, 'daemon', 'bin.js'), ['user', 'list', '--json', '--data-dir', d.dataDir], { env: d.env })
  assert.is(users.code, 0, users.stderr)
  assert.equal(JSON.parse(users.stdout).map((u: { name: string, global_role: string }) => [u.name, u.global_role]), [['admin', 'admin']])
  const projects = await runBin(join(ROOT, 'daemon', 'bin.js'), ['project', 'list', '--json', '--data-dir', d.dataDir], { env: d.env })
  assert.equal(JSON.parse(projects.stdout).map((p: { name: string }) => p.name), ['main'])
  // A new run goes next to the old one, in main.
  const again = await dstack(d, ['apply', '-f', join(work, 'old.dstack.yml'), '-y'])
  assert.is(again.code, 0, again.stderr)
  assert.is(JSON.parse((await dstack(d, ['ps', '-a', '--json'])).stdout).runs.filter((x: { name: string }) => x.name === 'oldrun').length, 2)
})

test.run()
