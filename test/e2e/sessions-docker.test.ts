// Sessions into a container job from another member of the mesh: the same JobAccess as for a
// process job (sessions.test.ts), through docker exec and the container's published port.
// local/busybox has no sftp-server: sftp is refused with what to install. Skipped, loudly,
// without root or an engine.
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobTarget } from '../../daemon/ssh/types.ts'
import { waitFor } from '../poll.ts'
import { suiteNeeding } from '../skip.ts'
import { engineMissing } from '../drivers/runtime/docker/engine.ts'
import { startHost, type Host } from './cluster.ts'
import { collect, gatewayPort, httpGet, joinAsMember, run, runningTarget, stockSsh, type Member } from './sessions.ts'

const test = suiteNeeding(import.meta.url, 'root and a Docker engine with the local images', await engineMissing())

let host: Host
let member: Member
let work: string
let target: JobTarget

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-sessions-docker-'))
  host = await startHost('h1', ['--ssh-port', '0'])
  member = await joinAsMember(host)
  target = await runningTarget(host, work, 'cbox', 'type: task\nimage: local/busybox\nports: [8000]\ncommands:\n  - mkdir -p /tmp/www && echo hi > /tmp/www/index.html\n  - exec httpd -f -p 8000 -h /tmp/www\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
})

test.after(async () => {
  await member?.close()
  await host?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('a command in the container sees the job\'s env; exit codes and stderr come back apart', async () => {
  const r = await run(member.access, target, 'echo "$DSTACK_RUN_NAME"; echo err >&2; exit 5')
  assert.is(r.stdout, 'cbox\n')
  assert.is(r.stderr, 'err\n')
  assert.is(r.code, 5)
})

test('a pty in the container has the size asked for and follows a resize', async () => {
  const p = await member.access.exec(target, { command: 'stty size; read x; stty size', tty: { cols: 80, rows: 24 } })
  const out = collect(p.stdout)
  await waitFor(() => out().includes('24 80'), { what: 'the first size' })
  p.resize(120, 30)
  await new Promise(resolve => setTimeout(resolve, 300))
  p.stdin.write('\r')
  assert.is((await p.exited).code, 0, out())
  assert.match(out(), /30 120/)
})

test('a forward reaches the HTTP server in the container through its published port', async () => {
  const line = await waitFor(async () => {
    const l = await httpGet(member.access, target, 8000)
    return l.startsWith('HTTP/') ? l : null
  }, { what: 'busybox httpd to answer through the forward' })
  assert.match(line, /^HTTP\/1\.\d 200/)
})

test('the stock ssh client into the container through the gateway: ssh RUN \'echo $DSTACK_RUN_NAME\'', async () => {
  const client = await stockSsh(host, work, 'cbox', gatewayPort(host))
  const r = await client.ssh('echo $DSTACK_RUN_NAME')
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, 'cbox\n')
})

test('sftp into an image without sftp-server is refused with what to install', async () => {
  const err = await member.access.exec(target, { subsystem: 'sftp' }).then(() => null, e => e as Error)
  assert.ok(err, 'refused')
  assert.match(err!.message, /no sftp-server.*openssh-sftp-server/)
})

test.run()
