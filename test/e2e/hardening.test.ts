// What the background daemon must not do (issue "Harden what exists"): let another user read
// its data dir, log errors while nothing is wrong, linger without serving when its socket path
// is too long, or have no way to be stopped. One daemon, started as a user would start it: by
// the first `dstack` command, in a data dir made beforehand with mode 755.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { apiClient, dstack, newHome, ROOT, runBin, sleep, writeConfig, type Result } from './harness.ts'
import { waitFor } from '../poll.ts'

const DSTACKD = join(ROOT, 'daemon', 'bin.js')
const SECRET = 'hunter2-e2e-secret'
const QUIET_MS = 65_000
/** `nobody` reads with setpriv: needs root (CI runs as root). */
const asNobody = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')

let home: string
let env: NodeJS.ProcessEnv
let dataDir: string
let startedAt = 0

const dstackd = (args: string[], e = env): Promise<Result> => runBin(DSTACKD, args, { env: e })

/** Every path under DIR (DIR included), not following links. */
async function tree (dir: string): Promise<string[]> {
  const out = [dir]
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...await tree(join(dir, e.name)))
    else out.push(join(dir, e.name))
  }
  return out
}

function nobody (...argv: string[]): { code: number | null, out: string } {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { encoding: 'utf8' })
  return { code: r.status, out: r.stdout + r.stderr }
}

async function pidOfDaemon (): Promise<number> {
  return (JSON.parse(await readFile(join(dataDir, 'dstackd.pid'), 'utf8')) as { pid: number }).pid
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

test.before(async () => {
  ({ home, env } = await newHome())
  dataDir = join(home, '.dstack', 'dstackd')
  await mkdir(dataDir, { recursive: true })
  // The way an operator prepares /var/lib/dstackd: every directory on the way open to all.
  for (const d of [home, join(home, '.dstack'), dataDir]) await chmod(d, 0o755)
  await writeFile(join(dataDir, 'notes.txt'), 'made before dstackd\n', { mode: 0o644 })
  await writeFile(join(home, 'public.txt'), 'anyone may read this\n', { mode: 0o644 })
})

test.after(async () => {
  await dstackd(['stop']).catch(() => undefined)
  await rm(home, { recursive: true, force: true }).catch(() => undefined)
})

test('the first dstack command starts a daemon in a pre-made 755 data dir: nothing in it is open to another user', async () => {
  const file = await writeConfig(home, 'secret.dstack.yml', `type: task\nname: with-secret\nenv:\n  - SECRET_TOKEN=${SECRET}\ncommands:\n  - echo done\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n`)
  const r = await dstack({ env }, ['apply', '-f', file, '-y'])
  startedAt = Date.now()
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, /Started a local dstackd/)
  assert.is((await lstat(dataDir)).mode & 0o777, 0o700)
  assert.is((await lstat(join(dataDir, 'notes.txt'))).mode & 0o777, 0o600, 'a file there before is tightened too')
  // Where the secret is on disk (the job's spec, the Raft log): the reads below must be refused.
  const holding: string[] = []
  for (const p of await tree(dataDir)) {
    const st = await lstat(p)
    if (st.isFile() && (await readFile(p)).includes(SECRET)) holding.push(p)
  }
  assert.ok(holding.some(p => p.includes(`${join(dataDir, 'raft')}/`)), `the Raft log holds the job's env: ${holding.join(', ')}`)
  const log = await readFile(join(dataDir, 'dstackd.log'), 'utf8')
  assert.not.ok(log.includes(SECRET), 'no secret in the log')
  // The job's own directory is outside the data dir (daemon/agent/jobs-area.ts): its spec holds the env too.
  const area = /"jobsDir":"([^"]+)"/.exec(log)?.[1]
  assert.ok(area !== undefined, 'the log names the jobs area')
  const specs = (await tree(area)).filter(p => p.endsWith('/spec.json'))
  assert.ok(specs.length > 0, `a job's spec in ${area}`)
  holding.push(...specs)
  if (!asNobody) { console.log('  (not root or no setpriv: reads as nobody not tried)'); return }
  assert.is(nobody('cat', join(home, 'public.txt')).code, 0, 'nobody can reach the home directory (the test would prove nothing otherwise)')
  const ls = nobody('ls', dataDir)
  assert.is.not(ls.code, 0, ls.out)
  assert.match(ls.out, /Permission denied/)
  for (const p of [...holding, join(dataDir, 'token'), join(dataDir, 'notes.txt')]) {
    const c = nobody('cat', p)
    assert.is.not(c.code, 0, `nobody read ${p}: ${c.out}`)
    assert.not.match(c.out, new RegExp(SECRET))
  }
})

test('a data dir too long for its socket: dstackd says so and exits at once; dstack never says Started', async () => {
  const long = join(home, 'd'.repeat(120))
  const guard = <T>(p: Promise<T>) => Promise.race([p, sleep(60_000).then(() => { throw new Error('dstackd did not exit: a daemon that serves nothing lingers') })])
  const r = await guard(dstackd(['run', '--data-dir', long, '--listen', '/ip4/127.0.0.1/tcp/0']))
  assert.is(r.code, 2, r.stdout + r.stderr)
  assert.match(r.stderr, /too long: its socket .*api\.sock would be \d+ bytes, and a Unix socket path has at most 107/)
  assert.not.ok(existsSync(long), 'nothing made')
  const other = await newHome()
  try {
    const ps = await guard(dstack({ env: { ...other.env, DSTACKD_DATA_DIR: long } }, ['ps']))
    assert.is.not(ps.code, 0)
    assert.match(ps.stderr, /too long/)
    assert.not.match(ps.stderr, /Started/)
  } finally {
    await rm(other.home, { recursive: true, force: true })
  }
})

test('a single host is quiet: over a minute, no warning or error in its log, every line JSON with a component', async () => {
  await sleep(Math.max(0, startedAt + QUIET_MS - Date.now()))
  const text = await readFile(join(dataDir, 'dstackd.log'), 'utf8')
  const lines = text.trim().split('\n').map(l => { try { return JSON.parse(l) as Record<string, unknown> } catch { assert.unreachable(`not a JSON line: ${l}`) } })
  assert.ok(lines.some(l => l!.msg === 'dstackd ready'), text)
  for (const l of lines) assert.type(l!.component, 'string', JSON.stringify(l))
  const loud = lines.filter(l => l!.level === 'warn' || l!.level === 'error')
  assert.equal(loud, [], 'no warning or error')
})

test('dstackd stop stops the background daemon; the next dstack command starts it again and every file is private', async () => {
  const pid = await pidOfDaemon()
  assert.ok(alive(pid))
  const r = await dstackd(['stop'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /Stopped dstackd \(process \d+/)
  assert.not.ok(alive(pid), 'the process is gone when stop returns')
  assert.not.ok(existsSync(join(dataDir, 'dstackd.pid')))
  const answered = await apiClient({ dataDir }, 1000).then(async c => { await c.close(); return true }, () => false)
  assert.not.ok(answered, 'nothing answers on the socket')
  const again = await dstackd(['stop'])
  assert.is(again.code, 0)
  assert.match(again.stdout, /No dstackd is running/)

  // Loosened while it was down (a backup restored, an operator's chmod -R): private again at
  // the next start — every directory 0700 and every file that was there, owner-only. (Files the
  // daemon makes or replaces as it runs get the default umask, behind those 0700 directories.)
  const before = new Map<string, number>()
  for (const p of await tree(dataDir)) {
    const st = await lstat(p)
    await chmod(p, st.isDirectory() ? 0o755 : 0o644)
    before.set(p, st.ino)
  }
  const ps = await dstack({ env }, ['ps', '-a'])
  assert.is(ps.code, 0, ps.stderr)
  assert.match(ps.stderr, /Started a local dstackd/)
  assert.match(ps.stdout, /with-secret/)
  const open = []
  for (const p of await tree(dataDir)) {
    const st = await lstat(p)
    if (st.isSymbolicLink()) continue
    if (st.isDirectory() ? (st.mode & 0o777) !== 0o700 : before.get(p) === st.ino && (st.mode & 0o077) !== 0) open.push(`${p} ${(st.mode & 0o777).toString(8)}`)
  }
  assert.equal(open, [])
  await waitFor(async () => (await dstackd(['stop'])).stdout.includes('Stopped'), { what: 'the second daemon to stop', timeout: 30_000 })
})

test.run()
