// The gateway's session and forward channels, end to end through a real node (started in this
// process so it can take a JobAccess) with a running run, and the stock OpenSSH client: exec,
// stdin, exit status, a pty and its size, resize and signals (ssh2's Client), sftp, a port
// forward to a local echo server, and a run that has finished. The JobAccess is the test's
// (local-access.ts): what runs inside a job is tested where JobAccess is implemented.
import '../../../mesh/polyfill.ts'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectApi, type ApiClient } from '../../../daemon/api/client.ts'
import { createLog } from '../../../daemon/log.ts'
import { startNode, type RunningNode } from '../../../daemon/node.ts'
import { waitFor } from '../../poll.ts'
import { localAccess, type LocalAccess } from './local-access.ts'
import { connect, newKey, run, ssh, sshOptions, type KeyPair } from './ssh.ts'

let home: string
let node: RunningNode
let api: ApiClient
let jobs: LocalAccess
let key: KeyPair
let knownHosts: string
let port: number
let logText = ''

const RUN = 'box'

test.before(async () => {
  home = await mkdtemp(join(tmpdir(), 'dstackd-sshs-'))
  knownHosts = join(home, 'known_hosts')
  jobs = localAccess()
  node = await startNode({
    dataDir: join(home, 'data'), name: 'ssh-session-test', listen: ['/ip4/127.0.0.1/tcp/0'], runtime: 'process', sshPort: 0, sshHost: '127.0.0.1', jobAccess: jobs,
    log: createLog({ component: 'dstackd', sink: { write: line => { logText += line }, close: () => {} } })
  })
  port = node.ssh!.port
  api = await connectApi({ socketPath: node.socketPath, token: (await readFile(join(home, 'data', 'token'), 'utf8')).trim() })
  key = await newKey(home, 'admin')
  await api.call('users.keys.add', { publicKey: key.pub })
  const configuration = { type: 'task', name: RUN, commands: ['sleep 600'], resources: { cpu: '0..', memory: '0..', disk: '0..' } }
  await api.call('runs.apply', { configuration })
  await waitFor(async () => (await api.call('runs.get', { name: RUN })).status === 'running', { what: `run ${RUN} to run` })
})

test.after(async () => {
  await api?.call('runs.stop', { names: [RUN], abort: true }).catch(() => {})
  await api?.close().catch(() => {})
  await node?.close()
  await rm(home, { recursive: true, force: true })
  const handles = (process as unknown as { _getActiveHandles (): object[] })._getActiveHandles()
  // node.close() leaves two Unix sockets open in this process (the process runtime's link to
  // its supervisor, which a real daemon never notices: it exits). Not this suite's to fix; it
  // must not keep the test process alive.
  for (const h of (process as unknown as { _getActiveHandles (): unknown[] })._getActiveHandles()) {
    if (h instanceof net.Socket && h !== process.stdout && h !== process.stderr) h.unref()
  }
})

const sshRun = (args: string[], opts: { input?: string, login?: string } = {}) => ssh(port, knownHosts, key.path, opts.login ?? `main/${RUN}`, args, opts)

test('exec: the command runs for the job the login names, with its output and exit status', async () => {
  const r = await sshRun(['echo $DSTACK_RUN_NAME; echo oops >&2; exit 3'])
  assert.is(r.stdout, `${RUN}\n`)
  assert.is(r.stderr, 'oops\n')
  assert.is(r.code, 3)
  const asked = jobs.execs.at(-1)!
  assert.is(asked.target.project, 'main')
  assert.is(asked.target.run, RUN)
  assert.is(asked.target.replica, 0)
  assert.is(asked.target.jobNum, 0)
  const job = (await api.call('jobs.get', { run: RUN }))[0]!
  assert.match(JSON.stringify(job), new RegExp(asked.target.job))
  assert.is(asked.request.command, 'echo $DSTACK_RUN_NAME; echo oops >&2; exit 3')
})

test('exec: the job name form RUN-REPLICA-JOB reaches the same job; a job that does not exist is named', async () => {
  const r = await sshRun(['echo ok'], { login: `main/${RUN}-0-0` })
  assert.is(r.stdout, 'ok\n')
  const missing = await sshRun(['echo ok'], { login: `main/${RUN}-0-5` })
  assert.is(missing.code, 1)
  assert.match(missing.stderr, new RegExp(`run ${RUN} has no job 5 in replica 0`))
})

test('stdin reaches the command, a megabyte with back-pressure both ways, and its end ends the command', async () => {
  const input = 'x'.repeat(1024 * 1024) + '\nend\n'
  const r = await sshRun(['wc -c'], { input })
  assert.is(r.code, 0)
  assert.is(r.stdout.trim(), String(input.length))
  const cat = await sshRun(['cat'], { input })
  assert.is(cat.stdout.length, input.length)
})

test('a pty: the command sees a terminal of the size and TERM the client asked for', async () => {
  const r = await run('ssh', [...sshOptions(port, knownHosts, key.path), '-tt', '-o', 'SetEnv=TERM=xterm-256color', `main/${RUN}@127.0.0.1`, 'test -t 0 && echo tty; stty size; echo $TERM'], { env: { ...process.env, TERM: 'xterm-256color' } })
  assert.match(r.stdout, /tty/)
  assert.match(r.stdout, /\d+ \d+/)
  const asked = jobs.execs.at(-1)!
  assert.ok(asked.request.tty, 'a tty was asked for')
  assert.is(asked.request.tty!.term, 'xterm-256color')
})

test('resize and signals reach the command (ssh2 Client: window-change, signal); an ended signal is exit-signal', async () => {
  const client = await connect({ port, username: `main/${RUN}`, privateKey: await readFile(key.path) })
  try {
    const out = await new Promise<{ text: string, signal?: string }>((resolve, reject) => {
      client.exec('trap "stty size; exit 0" WINCH 2>/dev/null; stty size; while :; do sleep 0.1; done', { pty: { cols: 80, rows: 24, term: 'xterm' } }, (err, ch) => {
        if (err) { reject(err); return }
        let text = ''
        let signal: string | undefined
        ch.on('data', (b: Buffer) => {
          text += b
          if (text.includes('24 80') && !text.includes('resized')) { text += 'resized'; ch.setWindow(50, 132, 0, 0) }
        })
        ch.on('exit', (_c: number | null, s?: string) => { if (s) signal = s })
        ch.on('close', () => resolve({ text, signal }))
      })
    })
    assert.match(out.text, /24 80/)
    assert.match(out.text, /50 132/)
    const killed = await new Promise<{ code?: number | null, signal?: string }>((resolve, reject) => {
      client.exec('sleep 600', (err, ch) => {
        if (err) { reject(err); return }
        let code: number | null | undefined
        let signal: string | undefined
        ch.on('exit', (c: number | null, s?: string) => { code = c; if (s) signal = s })
        ch.on('close', () => resolve({ code, signal }))
        ch.resume()
        setTimeout(() => ch.signal('TERM'), 300)
      })
    })
    assert.match(killed.signal ?? '', /^(SIG)?TERM$/)
  } finally {
    client.end()
  }
})

test('sftp and scp: the sftp subsystem is piped to the job\'s sftp-server', async () => {
  const local = join(home, 'upload.txt')
  await writeFile(local, 'through sftp\n')
  const remote = join(home, 'uploaded.txt')
  const batch = join(home, 'batch')
  await writeFile(batch, `put ${local} ${remote}\nbye\n`)
  const r = await run('sftp', [...sshOptions(port, knownHosts, key.path).map(o => o === '-p' ? '-P' : o), '-b', batch, `main/${RUN}@127.0.0.1`])
  assert.is(r.code, 0, r.stderr)
  assert.is(await readFile(remote, 'utf8'), 'through sftp\n')
  assert.is(jobs.execs.at(-1)!.request.subsystem, 'sftp')
  const copied = join(home, 'copied.txt')
  // scp reads a '/' before the ':' as a local path: the login goes in -o User.
  const scp = await run('scp', [...sshOptions(port, knownHosts, key.path).map(o => o === '-p' ? '-P' : o), '-o', `User=main/${RUN}`, `127.0.0.1:${remote}`, copied])
  assert.is(scp.code, 0, scp.stderr)
  assert.is(await readFile(copied, 'utf8'), 'through sftp\n')
})

test('direct-tcpip: ssh -L reaches the port inside the job (the destination host is ignored)', async () => {
  const echo = net.createServer(s => s.pipe(s))
  await new Promise<void>(resolve => echo.listen(0, '127.0.0.1', resolve))
  const target = (echo.address() as net.AddressInfo).port
  const free = net.createServer()
  await new Promise<void>(resolve => free.listen(0, '127.0.0.1', resolve))
  const local = (free.address() as net.AddressInfo).port
  await new Promise(resolve => free.close(resolve))
  const stop = new AbortController()
  const tunnel = run('ssh', [...sshOptions(port, knownHosts, key.path), '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:some-host-name:${target}`, `main/${RUN}@127.0.0.1`], { timeoutMs: 60_000, signal: stop.signal })
  try {
    const answer = await waitFor(() => new Promise<string>((resolve, reject) => {
      const s = net.connect(local, '127.0.0.1')
      let got = ''
      s.on('error', reject)
      s.on('data', b => { got += b; if (got === 'ping') { s.destroy(); resolve(got) } })
      s.on('close', () => resolve(got))
      s.on('connect', () => s.write('ping'))
    }), { what: 'the forwarded port to echo' })
    assert.is(answer, 'ping')
    assert.is(jobs.forwards.at(-1)!.port, target)
    assert.is(jobs.forwards.at(-1)!.target.run, RUN)
  } finally {
    echo.close()
    stop.abort()
    await tunnel
  }
})

test('a run that has finished: a clear message on stderr and exit status 1', async () => {
  await api.call('runs.stop', { names: [RUN], abort: true })
  await waitFor(async () => ['terminated', 'failed', 'done'].includes((await api.call('runs.get', { name: RUN })).status), { what: 'the run to end' })
  const r = await sshRun(['echo hi'])
  assert.is(r.code, 1)
  assert.match(r.stderr, new RegExp(`run ${RUN} has finished \\((terminated|failed|done)\\); nothing to connect to`))
  assert.not.match(logText, /uncaught/)
})

test.run()
