// The resident client (tui/resident.cjs): `dstack` run as a program hands a detached submission
// (`apply -d -y`) to it instead of starting Node, with the same output and exit code; what it
// does not run still goes to Node. A PATH without node proves which of the two ran a command.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT, startDaemon, writeConfig, type Daemon } from '../e2e/harness.ts'
import { waitFor } from '../poll.ts'

const BIN = join(ROOT, 'tui', 'bin.js')
const TASK = 'type: task\ncommands: [echo hi]\nresources: {cpu: 0.., memory: 0.., disk: 0..}\n'

interface Ran { code: number | null, stdout: string, stderr: string }

/** Runs ARGV (a program and its arguments) with Node's pipes (sockets) for its output. */
function run (argv: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}

/** A PATH with what tui/launch.sh needs besides node, so that only the resident client can run a command. */
async function pathWithoutNode (dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (const tool of ['mkfifo', 'cat', 'rm']) {
    const found = ['/usr/bin', '/bin'].map(d => join(d, tool)).find(p => existsSync(p))
    if (!found) throw new Error(`no ${tool}`)
    await symlink(found, join(dir, tool))
  }
  return dir
}

const residentDir = (d: Daemon) => join(d.home, '.dstack', 'resident')

async function residentPid (d: Daemon): Promise<number | undefined> {
  return await readFile(join(residentDir(d), 'pid'), 'utf8').then(t => Number(t.split(' ')[0]), () => undefined)
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

let d: Daemon
let file: string
let bad: string
let env: NodeJS.ProcessEnv
let noNode: NodeJS.ProcessEnv

test.before(async () => {
  d = await startDaemon()
  file = await writeConfig(d.home, 'task.dstack.yml', TASK)
  bad = await writeConfig(d.home, 'bad.dstack.yml', 'type: task\ncommandz: [echo hi]\n')
  // Without FORCE_COLOR (the test runner's) beside the harness's NO_COLOR: Node warns of the
  // two at start, which a command run in the resident client does not print.
  env = { ...d.env, DSTACK_RESIDENT: '' }
  delete env.FORCE_COLOR
  noNode = { ...env, PATH: await pathWithoutNode(join(d.home, 'bin')) }
})

test.after(async () => {
  const pid = await residentPid(d)
  await d.cleanup()
  if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGTERM')
})

test('the first detached submission starts a resident client; the next ones run there, output and exit code as through Node', async () => {
  const first = await run([BIN, 'apply', '-f', file, '-d', '-y', '-n', 'first'], env)
  assert.is(first.code, 0, first.stderr)
  const pid = await waitFor(() => residentPid(d), { what: 'the resident client to start', timeout: 30_000 })
  assert.ok(alive(pid))
  // Through Node (DSTACK_RESIDENT=0) and through the resident client (no node on PATH):
  // output to sockets (relayed by the launcher), then to pipes (written by the resident itself).
  for (const [i, viaPipes] of [[1, false], [2, true]] as const) {
    const argv = (name: string, f = file) => {
      const a = [BIN, 'apply', '-f', f, '-d', '-y', '-n', name]
      return viaPipes ? ['/bin/sh', '-c', '"$@" 2>&1 | cat', 'sh', ...a] : a
    }
    const node = await run(argv(`node-${i}`), { ...env, DSTACK_RESIDENT: '0' })
    const resident = await waitFor(async () => {
      const r = await run(argv(`resident-${i}`), noNode)
      return r.code === 0 && r.stdout.includes('submitted') ? r : undefined
    }, { what: 'the resident client to answer', timeout: 30_000 })
    assert.is(node.code, 0, node.stderr)
    // The offer's availability (idle, busy) changes as the jobs run.
    const plain = (s: string, name: string) => s.replaceAll(name, 'NAME').replace(/\b(idle|busy)\b/g, 'AVAILABILITY')
    assert.is(plain(resident.stdout, `resident-${i}`), plain(node.stdout, `node-${i}`))
    assert.is(resident.stderr, node.stderr)
  }
  const nodeBad = await run([BIN, 'apply', '-f', bad, '-d', '-y'], { ...env, DSTACK_RESIDENT: '0' })
  const residentBad = await run([BIN, 'apply', '-f', bad, '-d', '-y'], noNode)
  assert.is(nodeBad.code, 1)
  assert.is(residentBad.code, 1)
  assert.match(residentBad.stderr, /commandz/)
  assert.is(residentBad.stderr, nodeBad.stderr)
  assert.is(await residentPid(d), pid, 'one resident client served them all')
})

test('other one-shot commands run there too (ps, logs); what asks, reads input or follows goes to Node', async () => {
  await waitFor(() => residentPid(d), { what: 'the resident client', timeout: 30_000 })
  const ps = await run([BIN, 'ps', '-a', '--json'], noNode)
  assert.is(ps.code, 0, ps.stderr)
  const names = (JSON.parse(ps.stdout) as { runs: Array<{ name: string }> }).runs.map(r => r.name)
  assert.ok(names.includes('first') && names.includes('resident-1'), names.join(' '))
  await waitFor(async () => (await run([BIN, 'logs', 'first'], noNode)).stdout.includes('hi'), { what: 'the output of the run first' })
  const unknown = await run([BIN, 'logs', 'no-such-run'], noNode)
  const unknownNode = await run([BIN, 'logs', 'no-such-run'], { ...env, DSTACK_RESIDENT: '0' })
  assert.is(unknown.code, unknownNode.code)
  assert.is(unknown.stderr, unknownNode.stderr)
  for (const argv of [['ps', '-w'], ['logs', '-f', 'first'], ['stop', 'first'], ['apply', '-f', file, '-y', '-n', 'attached'], ['apply', '-f', '-', '-d', '-y']]) {
    const r = await run([BIN, ...argv], noNode)
    assert.is(r.code, 127, `${argv.join(' ')}: ${r.stdout}${r.stderr}`) // sh: node: not found
  }
})

test('it ends when its directory goes away', async () => {
  const pid = await waitFor(() => residentPid(d), { what: 'the resident client', timeout: 30_000 })
  await rm(residentDir(d), { recursive: true, force: true })
  await waitFor(() => !alive(pid), { what: 'the resident client to end', timeout: 30_000 })
})

test.run()
