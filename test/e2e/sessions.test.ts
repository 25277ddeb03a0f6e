// Sessions into a process job from another member of the mesh (JobAccess over the exec and port
// relays): a command sees the job's env, exit codes and signals come back, a pty gets its size and
// resizes, stdin reaches the command, a forward reaches a server the job started, sftp-server is
// piped, and garbage on the exec protocol never takes the daemon down.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeFrame } from '../../mesh/frames.ts'
import { EXEC_PROTOCOL } from '../../daemon/ssh/relay.ts'
import type { JobTarget } from '../../daemon/ssh/types.ts'
import { waitFor } from '../poll.ts'
import { startHost, type Host } from './cluster.ts'
import { collect, freePort, httpGet, joinAsMember, run, runningTarget, type Member } from './sessions.ts'

let host: Host
let member: Member
let work: string
let target: JobTarget
let port: number

const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-sessions-'))
  host = await startHost('h1', [])
  member = await joinAsMember(host)
  port = await freePort()
  target = await runningTarget(host, work, 'box', `type: task\ncommands:\n  - exec /usr/bin/python3 -m http.server ${port} --bind 127.0.0.1\n${SMALL}`)
})

test.after(async () => {
  await member?.close()
  await host?.cleanup()
  await rm(work, { recursive: true, force: true })
})

test('a command run from another member sees the job\'s env: $DSTACK_RUN_NAME is the run\'s name', async () => {
  const r = await run(member.access, target, 'echo "$DSTACK_RUN_NAME"; pwd')
  assert.is(r.code, 0, r.stderr)
  const [name, cwd] = r.stdout.trim().split('\n')
  assert.is(name, 'box')
  assert.ok(cwd && cwd.startsWith('/'), r.stdout)
})

test('exit codes come back, stderr apart from stdout, the request\'s env on top of the job\'s', async () => {
  const r = await run(member.access, target, 'echo out; echo err >&2; exit 7')
  assert.is(r.code, 7)
  assert.is(r.stdout, 'out\n')
  assert.is(r.stderr, 'err\n')
  const p = await member.access.exec(target, { command: 'echo "$GREETING $DSTACK_RUN_NAME"', env: { GREETING: 'hello' } })
  const out = collect(p.stdout)
  p.stdin.end()
  assert.is((await p.exited).code, 0)
  assert.is(out(), 'hello box\n')
})

test('stdin reaches the command and its end is the command\'s end of input', async () => {
  const r = await run(member.access, target, 'wc -c', 'x'.repeat(300_000))
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout.trim(), '300000')
})

test('a signal ends the command and comes back as its exit signal', async () => {
  const p = await member.access.exec(target, { command: 'echo started; exec sleep 60' })
  const out = collect(p.stdout)
  await waitFor(() => out().includes('started'), { what: 'the command to start' })
  p.signal('TERM')
  const exit = await p.exited
  assert.ok(exit.signal === 'SIGTERM' || exit.code === 143, JSON.stringify(exit))
})

test('a pty session has the size asked for and follows a resize', async () => {
  const p = await member.access.exec(target, { command: 'stty size; read x; stty size', tty: { cols: 80, rows: 24, term: 'xterm' } })
  const out = collect(p.stdout)
  await waitFor(() => out().includes('24 80'), { what: 'the first size' })
  p.resize(100, 40)
  await new Promise(resolve => setTimeout(resolve, 300)) // the resize frame goes first: a later one would carry it anyway
  p.stdin.write('\r')
  const exit = await p.exited
  assert.is(exit.code, 0, out())
  assert.match(out(), /40 100/)
})

test('a login shell without a command answers what it is sent', async () => {
  const p = await member.access.exec(target, { tty: { cols: 80, rows: 24 } })
  const out = collect(p.stdout)
  p.stdin.write('echo "shell for $DSTACK_RUN_NAME"; exit 3\r')
  const exit = await p.exited
  assert.is(exit.code, 3, out())
  assert.match(out(), /shell for box/)
})

test('a forward reaches the HTTP server the job started', async () => {
  const line = await waitFor(async () => {
    const l = await httpGet(member.access, target, port)
    return l.startsWith('HTTP/') ? l : null
  }, { what: 'the job\'s HTTP server to answer through the forward' })
  assert.match(line, /^HTTP\/1\.\d 200/)
  const closed = await freePort()
  const err = await member.access.forward(target, closed).then(() => null, e => e as Error)
  assert.match(err?.message ?? 'it connected', /nothing answers/)
})

test('sftp runs the job\'s sftp-server (or says there is none)', async () => {
  if (!existsSync('/usr/lib/openssh/sftp-server')) {
    await member.access.exec(target, { subsystem: 'sftp' }).then(() => assert.unreachable('no sftp-server here'), err => assert.match((err as Error).message, /no sftp-server/))
    console.log('  (no sftp-server on this host: scripts/ci/sshd.sh installs one; checked the refusal only)')
    return
  }
  const p = await member.access.exec(target, { subsystem: 'sftp' })
  const chunks: Buffer[] = []
  p.stdout.on('data', (c: Buffer) => chunks.push(c))
  // SSH_FXP_INIT version 3: length 5, type 1, version.
  p.stdin.write(Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]))
  await waitFor(() => Buffer.concat(chunks).length >= 9, { what: 'the sftp-server\'s version packet' })
  assert.is(Buffer.concat(chunks)[4], 2, 'SSH_FXP_VERSION')
  p.stdin.end()
  await p.exited
})

test('a job that does not run there is refused with a message', async () => {
  const err = await member.access.exec({ ...target, job: 'no-such-job' }, { command: 'true' }).then(() => null, e => e as Error)
  assert.ok(err)
  assert.match(err!.message, /no-such-job|unknown job|not running/)
})

test('garbage on the exec protocol ends that stream, never the daemon', async () => {
  const peer = peerIdFromString(target.node)
  const payloads: Uint8Array[] = [
    new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
    encodeFrame([1, 2], 1e6),
    encodeFrame({ open: { job: '../../etc', request: {} } }, 1e6),
    encodeFrame({ open: { job: target.job, request: { tty: { cols: -1, rows: 1e9 } } } }, 1e6),
    encodeFrame({ open: { job: target.job, request: { env: { 'A=B': 1 } } } }, 1e6),
    Buffer.concat([encodeFrame({ open: { job: target.job, request: { command: 'cat' } } }, 1e6), encodeFrame({ what: 1 }, 1e6)]),
    Buffer.concat([encodeFrame({ open: { job: target.job, request: { command: 'cat' } } }, 1e6), new Uint8Array([0, 0, 0, 3, 0x7b, 0x7b, 0x7b])]),
    ...Array.from({ length: 20 }, (_, i) => Uint8Array.from({ length: 1 + i * 37 }, () => Math.floor(Math.random() * 256)))
  ]
  for (const bytes of payloads) {
    const stream = await member.mesh.libp2p.dialProtocol(peer, EXEC_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    stream.send(bytes)
    await stream.close().catch(() => {})
    // The daemon answers or drops the stream; either way it ends.
    await waitFor(() => stream.status !== 'open', { what: 'the bad stream to end', timeout: 30_000 }).catch(() => stream.abort(new Error('test done')))
  }
  assert.is(host.process.exitCode, null, 'the daemon is still up')
  const r = await run(member.access, target, 'echo still')
  assert.is(r.stdout, 'still\n')
})

test.run()
