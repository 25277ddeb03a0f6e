// A dev environment's `inactivity_duration` (SPEC §5.6): while an SSH session is open on it the
// environment stays; once none has been open for that long it ends `terminated` with
// `inactivity_duration_exceeded`. Sessions come from another member of the mesh, so they are
// counted on the job's host through the relay, as the gateway's are.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '../poll.ts'
import { startHost, type Host } from './cluster.ts'
import { dstack } from './harness.ts'
import { collect, joinAsMember, runningTarget, type Member } from './sessions.ts'

let host: Host
let member: Member
let work: string

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-inactivity-'))
  host = await startHost('h1', [])
  member = await joinAsMember(host)
})

test.after(async () => {
  await member?.close()
  await host?.cleanup()
  await rm(work, { recursive: true, force: true })
})

async function job (name: string): Promise<Record<string, any>> {
  const ps = await dstack(host, ['ps', '-a', '--json'])
  return (JSON.parse(ps.stdout).runs as Array<Record<string, any>>).find(r => r.name === name)!.jobs[0]
}

test('a dev environment stays while a session is open, and ends inactivity_duration_exceeded once none is', async () => {
  const target = await runningTarget(host, work, 'idle-dev', 'type: dev-environment\ninactivity_duration: 20s\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  const shell = await member.access.exec(target, { tty: { cols: 80, rows: 24 } })
  const out = collect(shell.stdout)
  shell.stdin.write('echo "in $DSTACK_RUN_NAME"\r')
  await waitFor(() => out().includes('in idle-dev'), { what: 'the shell to answer' })
  // Longer than inactivity_duration with the session open: the environment must still run.
  await new Promise(resolve => setTimeout(resolve, 30_000))
  assert.is((await job('idle-dev')).status, 'running', 'an open session keeps the environment')
  shell.stdin.write('exit\r')
  await shell.exited
  const ended = await waitFor(async () => {
    const j = await job('idle-dev')
    return ['terminated', 'failed', 'done', 'aborted'].includes(j.status) ? j : null
  }, { what: 'the environment to end after its inactivity_duration', timeout: 180_000, interval: 1000 })
  assert.is(ended.status, 'terminated')
  assert.is(ended.termination_reason, 'inactivity_duration_exceeded')
})

test.run()
