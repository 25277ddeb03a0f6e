// What a job can reach on its host, end to end: a real dstackd, the real CLI, real jobs. A job
// must never reach the daemon's credentials (token, swarm key, identity key, Raft log, API
// socket); its script may be any length; `python:` gets that version or says why not.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, runNamed, startDaemon, writeConfig, type Daemon } from './harness.ts'

let d: Daemon
let work: string
const asRoot = process.getuid?.() === 0

test.before(async () => {
  d = await startDaemon()
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-jobs-'))
})

test.after(async () => {
  await d.cleanup()
  await rm(work, { recursive: true, force: true })
})

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

/** Applies a task attached; returns the CLI's result (the job's output is in stdout). */
async function applyTask (name: string, body: string) {
  const file = await writeConfig(work, `${name}.dstack.yml`, `type: task\nname: ${name}\n${body}${SMALL}`)
  return await dstack(d, ['apply', '-f', file, '-y'])
}

test('a job reads none of the daemon\'s secrets, nor its socket', async () => {
  if (!asRoot) {
    // Not root: the job is dstackd's own user, and the OS lets it read the keys. ps -v says so.
    const r = await applyTask('reach', 'commands: [true]\n')
    assert.is(r.code, 0, r.stderr)
    const ps = await dstack(d, ['ps', '-a', '-v'])
    assert.match(ps.stdout, /can read what dstackd can/)
    console.log('  (the isolation itself needs root: skipped)')
    return
  }
  const secrets = ['token', 'swarm.key', 'identity.key', 'raft/CURRENT', 'peers.json', 'cluster']
  const tries = [
    'echo "uid $(id -u) groups $(id -G)"',
    'echo "workdir $DSTACK_WORKING_DIR"',
    ...secrets.map(f => `if cat "$D/${f}" >/dev/null 2>&1; then echo "READ ${f}"; else echo "denied ${f}"; fi`),
    'if ls "$D" >/dev/null 2>&1; then echo "READ listing"; else echo "denied listing"; fi',
    `if python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$D/api.sock" 2>/dev/null; then echo "READ api.sock"; else echo "denied api.sock"; fi`
  ]
  const r = await applyTask('reach', `env:\n  - D=${d.dataDir}\ncommands:\n${tries.map(c => `  - ${JSON.stringify(c)}`).join('\n')}\n`)
  assert.is(r.code, 0, r.stderr + r.stdout)
  const out = r.stdout
  for (const f of [...secrets, 'listing', 'api.sock']) assert.match(out, new RegExp(`denied ${f.replace('.', '\\.')}`), `${f}: ${out}`)
  assert.not.match(out, /READ /)
  const uid = /uid (\d+) groups ([\d ]+)/.exec(out)
  assert.ok(uid, out)
  assert.is.not(uid![1], '0', 'the job does not run as root')
  assert.not.ok(uid![2]!.split(' ').includes('0'), 'nor in group root')
  const workdir = /workdir (\S+)/.exec(out)![1]!
  assert.not.ok(workdir.startsWith(d.dataDir + '/'), `the working dir ${workdir} is outside the data dir`)
})

test('10,000 lines of commands run (the script goes through a file, not argv)', async () => {
  const lines = Array.from({ length: 10_000 }, (_, i) => `  - echo line-${String(i).padStart(5, '0')}-of-a-long-script`)
  const r = await applyTask('long', `commands:\n${lines.join('\n')}\n`)
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /line-00000-of-a-long-script/)
  assert.match(r.stdout, /line-09999-of-a-long-script/)
  assert.is((await runNamed(d, 'long'))!.status, 'done')
})

test('python: 3.12 gets python 3.12, or the job fails at start saying what to install', async () => {
  const r = await applyTask('py', 'python: "3.12"\ncommands:\n  - python --version\n')
  const run = await runNamed(d, 'py')
  if (run!.status === 'done') {
    assert.match(r.stdout, /Python 3\.12/)
  } else {
    assert.is(run!.status, 'failed')
    const error = run!.jobs[0].error as string
    assert.match(error, /python 3\.12 was asked for, but this host has no python3\.12 and no uv/)
    assert.match(error, /install either on the host, or remove `python:`/)
    assert.not.match(error, /container/)
  }
})

test('a failing command says so without naming a container', async () => {
  await applyTask('fails', 'commands: [exit 7]\n')
  const run = await runNamed(d, 'fails')
  assert.is(run!.status, 'failed')
  const ps = await dstack(d, ['ps', '-a', '-v'])
  assert.match(ps.stdout, /the command exited with status 7/)
  assert.not.match(ps.stdout, /container/)
})

test.run()
