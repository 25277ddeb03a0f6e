// dstackd on one host, end to end: real dstackd processes, the real CLI, real jobs.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, jobWritableDir, psJson, ROOT, runNamed, sleep, startDaemon, writeConfig, type Daemon } from './harness.ts'
import { waitFor } from '../poll.ts'

let d: Daemon
let work: string

test.before(async () => {
  d = await startDaemon()
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-work-'))
})

test.after(async () => {
  await d.cleanup()
  await rm(work, { recursive: true, force: true })
})

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

async function applyDetached (name: string, commands: string[], extra = ''): Promise<void> {
  const file = await writeConfig(work, `${name}.dstack.yml`, `type: task\nname: ${name}\ncommands:\n${commands.map(c => `  - ${JSON.stringify(c)}`).join('\n')}\n${SMALL}${extra}`)
  const r = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr)
}

async function statusOf (name: string, want: string[]): Promise<Record<string, any>> {
  return await waitFor(async () => {
    const run = await runNamed(d, name)
    return run && want.includes(run.status) ? run : null
  }, { what: `${name} to be ${want.join(' or ')}` })
}

test('apply → done: the plan, the output, exit code 0', async () => {
  const r = await dstack(d, ['apply', '-f', 'examples/hello/.dstack.yml', '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /Project\s+main/)
  assert.match(r.stdout, /local \(local\)/)
  assert.match(r.stdout, /Hello from dstackd on/)
  assert.match(r.stdout, /Run hello, node rank 0/)
  const run = await runNamed(d, 'hello')
  assert.is(run!.status, 'done')
  assert.is(run!.status_text, 'exited (0)')
})

test('a failing command: exit code 1 and `exited (N)`', async () => {
  const file = await writeConfig(work, 'fail.dstack.yml', `type: task\nname: fails\ncommands: [echo about to fail, exit 3]\n${SMALL}`)
  const r = await dstack(d, ['apply', '-f', file, '-y'])
  assert.is(r.code, 1)
  assert.match(r.stdout, /about to fail/)
  const run = await runNamed(d, 'fails')
  assert.is(run!.status, 'failed')
  assert.is(run!.status_text, 'exited (3)')
  assert.is(run!.jobs[0].exit_status, 3)
  const table = await dstack(d, ['ps', '-a'])
  assert.match(table.stdout, /fails\s.*exited \(3\)/)
})

test('an invalid file: every error with file:line:col, exit 1, nothing submitted', async () => {
  const file = await writeConfig(work, 'bad.dstack.yml', 'type: task\nname: bad-one\ncomands: [ls]\nresources:\n  gpu: A100:2:3\n')
  const r = await dstack(d, ['apply', '-f', file, '-y'])
  assert.is(r.code, 1)
  assert.match(r.stderr, /bad\.dstack\.yml:3:1: comands: unknown field "comands" \(did you mean "commands"\?\)/)
  assert.match(r.stderr, /bad\.dstack\.yml:5:8: resources\.gpu:/)
  assert.is(await runNamed(d, 'bad-one'), undefined)
})

test('apply -y of an active run (plan and submission in one call): unchanged, --force, in place, refused', async () => {
  const yaml = (extra: string) => `type: task\nname: again\ncommands: ['sleep 60']\n${SMALL}${extra}`
  const file = await writeConfig(work, 'again.dstack.yml', yaml(''))
  const first = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(first.code, 0, first.stderr)
  assert.match(first.stdout, /Run again submitted/)
  const id = (await runNamed(d, 'again'))!.id
  const same = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(same.code, 0, same.stderr)
  assert.match(same.stdout, /Project\s+main/)
  assert.match(same.stdout, /Run again is \w+ and nothing changed\. Use --force to apply anyway\./)
  const forced = await dstack(d, ['apply', '-f', file, '-y', '-d', '--force'])
  assert.is(forced.code, 0, forced.stderr)
  assert.match(forced.stdout, /Run again updated/)
  await writeConfig(work, 'again.dstack.yml', yaml('priority: 5\n'))
  const inPlace = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(inPlace.code, 0, inPlace.stderr)
  assert.match(inPlace.stdout, /Run again updated/)
  await writeConfig(work, 'again.dstack.yml', yaml('priority: 5\nenv: [A=1]\n'))
  const refused = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(refused.code, 1)
  assert.match(refused.stdout, /Project\s+main/)
  assert.match(refused.stderr, /Cannot override active run again\. Stop the run first \(`dstack stop again`\)\. changed: env/)
  const run = await runNamed(d, 'again')
  assert.is(run!.id, id, 'still the first run')
  assert.is(run!.priority, 5, 'the in-place update took')
  assert.is((await dstack(d, ['stop', '-x', '-y', 'again'])).code, 0)
})

test('stop: SIGINT reaches the job, the run ends `stopped`', async () => {
  await applyDetached('to-stop', ['trap "echo got SIGINT; exit 130" INT; echo started; while true; do sleep 0.1; done'])
  await statusOf('to-stop', ['running'])
  await waitFor(async () => (await dstack(d, ['logs', 'to-stop'])).stdout.includes('started'), { what: 'the job to print' })
  const r = await dstack(d, ['stop', 'to-stop', '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /Stopped/)
  const run = await statusOf('to-stop', ['terminated'])
  assert.is(run.status_text, 'stopped')
  assert.is(run.termination_reason, 'stopped_by_user')
  assert.match((await dstack(d, ['logs', 'to-stop'])).stdout, /got SIGINT/, 'the last lines before a stop are kept')
})

test('abort: a job that ignores SIGINT is killed at once, the run ends `aborted`', async () => {
  await applyDetached('to-abort', ['trap "" INT; echo started; while true; do sleep 0.1; done'])
  await statusOf('to-abort', ['running'])
  const r = await dstack(d, ['stop', 'to-abort', '-x', '-y'])
  assert.match(r.stdout, /Aborted/)
  const run = await statusOf('to-abort', ['terminated'])
  assert.is(run.status_text, 'aborted')
  assert.is(run.termination_reason, 'aborted_by_user')
})

test('max_duration: the job is terminated when its time is up', async () => {
  await applyDetached('too-long', ['echo working', 'sleep 600'], 'max_duration: 2s\n')
  const run = await statusOf('too-long', ['failed', 'terminated', 'done'])
  assert.is(run.jobs[0].termination_reason, 'max_duration_exceeded')
  assert.is(run.jobs[0].status_text, 'terminated')
})

test('retry on error: the run is resubmitted after the back-off and then succeeds', async () => {
  const shared = await jobWritableDir(work)
  const marker = join(shared, 'retried-once')
  await applyDetached('flaky', [`if [ -e ${marker} ]; then echo second try; else touch ${marker}; echo first try; exit 1; fi`], 'retry:\n  on_events: [error]\n  duration: 1h\n')
  const pending = await statusOf('flaky', ['pending'])
  assert.is(pending.jobs[0].status_text, 'exited (1)')
  const run = await waitFor(async () => { const r = await runNamed(d, 'flaky'); return r?.status === 'done' ? r : null }, { what: 'the retried run to finish', timeout: 90_000 })
  assert.is(run.jobs[0].submission_num, 1)
  const logs = await dstack(d, ['logs', 'flaky'])
  assert.match(logs.stdout, /second try/)
})

test('logs --since: only what was written after that time', async () => {
  // The second line waits for the test's go-ahead (a file), not for a sleep to outlast a slow machine.
  const go = join(work, 'since.go')
  await applyDetached('since', ['echo first line', `while [ ! -e ${go} ]; do sleep 0.1; done`, 'echo second line'])
  await waitFor(async () => (await dstack(d, ['logs', 'since'])).stdout.includes('first line'), { what: 'the first line' })
  const t = new Date().toISOString()
  await writeFile(go, '')
  await statusOf('since', ['done'])
  const all = await dstack(d, ['logs', 'since'])
  assert.match(all.stdout, /first line[\s\S]*second line/)
  const recent = await dstack(d, ['logs', 'since', '--since', t])
  assert.match(recent.stdout, /second line/)
  assert.not.match(recent.stdout, /first line/)
  const bad = await dstack(d, ['logs', 'since', '--since', 'yesterday-ish'])
  assert.is(bad.code, 2, 'a usage error')
  assert.match(bad.stderr, /--since/)
})

test('files and the local repo go along with the run', async () => {
  const { mkdir, writeFile } = await import('node:fs/promises')
  const repo = join(work, 'repo')
  await mkdir(join(repo, 'src'), { recursive: true })
  await writeFile(join(repo, 'src', 'train.py'), 'print("training")\n')
  await writeFile(join(work, 'input.txt'), 'the input\n')
  await writeConfig(work, 'code.dstack.yml', `type: task\nname: with-code\nrepos: ["repo:code"]\nfiles: [input.txt]\ncommands:\n  - cat input.txt\n  - python3 code/src/train.py\n${SMALL}`)
  const r = await dstack(d, ['apply', '-f', join(work, 'code.dstack.yml'), '-y'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, /Uploading the code \(2 files/)
  assert.match(r.stdout, /the input[\s\S]*training/)
})

test('ps --json: {project, runs} with the run and job fields clients rely on', async () => {
  const res = await psJson(d)
  assert.is(res.project, 'main')
  const run = res.runs.find(r => r.name === 'hello')!
  for (const key of ['id', 'name', 'status', 'status_text', 'submitted_at', 'backend', 'resources', 'jobs', 'termination_reason', 'error']) {
    assert.ok(key in run, `runs[].${key}`)
  }
  for (const key of ['job_num', 'replica_num', 'job_name', 'status', 'status_text', 'exit_status', 'submission_num', 'hostname']) {
    assert.ok(key in run.jobs[0], `runs[].jobs[].${key}`)
  }
  assert.is(run.jobs[0].job_name, 'hello-0-0')
  const get = await dstack(d, ['run', 'get', 'hello', '--json'])
  assert.is(JSON.parse(get.stdout).configuration.type, 'task')
})

test('the system environment reaches the job; a passed-through secret shows nowhere', async () => {
  const secret = 'hunter2-do-not-show'
  const file = await writeConfig(work, 'env.dstack.yml', `type: task\nname: env-check\nenv:\n  - MINE=yes\n  - API_TOKEN\ncommands:\n  - echo "rank=$DSTACK_NODE_RANK nodes=$DSTACK_NODES_NUM name=$DSTACK_RUN_NAME mine=$MINE token-length=\${#API_TOKEN}"\n${SMALL}`)
  const applied = await dstack(d, ['apply', '-f', file, '-y'], { env: { API_TOKEN: secret } })
  assert.is(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, new RegExp(`rank=0 nodes=1 name=env-check mine=yes token-length=${secret.length}`))
  const shown = [applied.stdout, applied.stderr, (await dstack(d, ['run', 'get', 'env-check', '--json'])).stdout,
    (await dstack(d, ['ps', '-a', '-v'])).stdout, (await dstack(d, ['event'])).stdout, d.log()].join('\n')
  assert.not.match(shown, /hunter2/)
  const missing = await dstack(d, ['apply', '-f', file, '-y'], { env: { API_TOKEN: undefined } as unknown as NodeJS.ProcessEnv })
  assert.is(missing.code, 1)
  assert.match(missing.stderr, /Environment variable API_TOKEN is not set/)
})

test('an older-format workflow runs, and its artifacts can be listed and downloaded', async () => {
  const cwd = join(ROOT, 'examples', 'workflows')
  const r = await dstack(d, ['run', 'train', '-y'], { cwd })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /step 3/)
  const run = (await psJson(d)).runs.find(x => x.workflow === 'train')!
  const list = await dstack(d, ['artifacts', 'list', run.name])
  assert.match(list.stdout, /checkpoint\/model\.ckpt/)
  assert.match(list.stdout, /logs\/train\.log/)
  const out = join(work, 'downloaded')
  const dl = await dstack(d, ['artifacts', 'download', run.name, '-o', out])
  assert.is(dl.code, 0, dl.stderr)
  assert.is(await readFile(join(out, 'checkpoint', 'model.ckpt'), 'utf8'), 'weights 3\n')
  assert.match(await readFile(join(out, 'logs', 'train.log'), 'utf8'), /step 1\nstep 2\nstep 3/)
})

test('kill -9 of dstackd while a job runs: the job is re-adopted and its run completes with every line', async () => {
  await applyDetached('survivor', ['for i in $(seq 1 30); do echo line $i; sleep 0.1; done'])
  await statusOf('survivor', ['running'])
  await d.kill9()
  await sleep(500)
  await d.start()
  const run = await statusOf('survivor', ['done'])
  assert.is(run.status_text, 'exited (0)')
  const logs = (await dstack(d, ['logs', 'survivor'])).stdout
  for (let i = 1; i <= 30; i++) assert.match(logs, new RegExp(`line ${i}\\r?\\n`))
  assert.ok((await psJson(d)).runs.some(r => r.name === 'hello'), 'every committed run is still there')
})

test('kill -9 of dstackd and of the job: on restart the job fails with a reason', async () => {
  await applyDetached('orphan', ['echo pid=$BASHPID', 'sleep 600'])
  const running = await statusOf('orphan', ['running'])
  const log = await waitFor(async () => /pid=(\d+)/.exec((await dstack(d, ['logs', 'orphan'])).stdout), { what: 'the job pid' })
  await d.kill9()
  // Kill the job's runner and its process group, as a crash of the whole host would.
  const jobDir = join(d.jobsDir(), running.jobs[0].submission_id)
  const runner = JSON.parse(await readFile(join(jobDir, 'runner.json'), 'utf8'))
  try { process.kill(runner.runnerPid, 'SIGKILL') } catch { /* gone */ }
  try { process.kill(-Number(log[1]), 'SIGKILL') } catch { /* gone */ }
  await d.start()
  const run = await statusOf('orphan', ['failed'])
  assert.is(run.jobs[0].termination_reason, 'executor_error')
  assert.ok(run.jobs[0].error, 'the reason is given')
})

test('the daemon shrugs off garbage on its socket', async () => {
  const net = await import('node:net')
  const answer = await new Promise<string>(resolve => {
    const s = net.createConnection(join(d.dataDir, 'api.sock'))
    let got = ''
    s.on('connect', () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])))
    s.on('data', b => { got += b.toString('latin1'); s.destroy(); resolve(got) })
    s.on('error', () => resolve(got))
    s.on('close', () => resolve(got))
  })
  assert.match(answer, /frame_too_large/, 'the daemon says why before closing')
  const r = await dstack(d, ['ps'])
  assert.is(r.code, 0, 'still serving')
  assert.ok((await stat(join(d.dataDir, 'api.sock'))).mode & 0o600)
})

test.run()
