// The "done when": `dstack apply -f dev.dstack.yml -d`, then the stock OpenSSH client's
// `ssh RUN 'echo $DSTACK_RUN_NAME'` prints the run's name, with no dstack process running, on
// the process runtime and (with an engine) in a container. OpenSSH finds `~` from the passwd
// entry, not $HOME: each ssh runs in a mount namespace of its own where the test's temporary
// HOME is mounted over the real home, so it reads the ~/.ssh/config the client wrote there
// and nothing of the real one.
import { test as plainTest } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { engineMissing } from '../drivers/runtime/docker/engine.ts'
import { suiteNeeding } from '../skip.ts'
import { dstack, runNamed, startDaemon, writeConfig, type Daemon, type Result } from './harness.ts'
import { waitFor } from '../poll.ts'

/** The home OpenSSH uses (the passwd entry's), which the namespace covers with the test's. */
const PASSWD_HOME = spawnSync('getent', ['passwd', String(process.getuid?.() ?? 0)], { encoding: 'utf8' }).stdout?.split(':')[5] ?? ''

function namespaceMissing (): string | null {
  if (process.getuid?.() !== 0) return 'not root'
  if (PASSWD_HOME === '') return 'no passwd entry for this user'
  const r = spawnSync('unshare', ['-m', 'true'])
  if (r.status !== 0) return `unshare -m fails: ${r.stderr?.toString().trim() ?? r.error?.message}`
  if (spawnSync('ssh', ['-V']).status !== 0) return 'no ssh client'
  return null
}

const test = suiteNeeding(import.meta.url, 'root, unshare and the OpenSSH client', namespaceMissing())
const SMALL = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'

let d: Daemon
let work: string

/** The stock `ssh ARGS` as the user whose home is `home`. */
function sshAs (home: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const script = 'mount --bind "$1" "$2" && shift 2 && exec ssh -o BatchMode=yes -o ConnectTimeout=20 "$@"'
    const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', home, PASSWD_HOME, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-sshrun-'))
  d = await startDaemon({ args: ['--ssh-port', '0'] })
})

test.after(async () => {
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

async function devEnvironment (name: string, extra: string): Promise<string> {
  const file = await writeConfig(work, `${name}.dstack.yml`, `type: dev-environment\nname: ${name}\nide: vscode\ninit:\n  - echo init-ran\n${extra}${SMALL}`)
  const r = await dstack(d, ['apply', '-f', file, '-y', '-d'])
  assert.is(r.code, 0, r.stderr + r.stdout)
  await waitFor(async () => {
    const run = await runNamed(d, name)
    if (['done', 'failed', 'terminated'].includes(run?.status)) throw new Error(`${name} ended: ${JSON.stringify(run)}`)
    return run?.status === 'running'
  }, { what: `${name} to run`, timeout: 120_000 })
  return r.stdout
}

test('apply -d of a dev environment prints the link, and the stock `ssh RUN` reaches it with no dstack running', async () => {
  const out = await devEnvironment('dev', '')
  assert.match(out, 'Run dev submitted\n\nTo open in VS Code, use link below:\n\n  vscode://vscode-remote/ssh-remote+dev\n\nTo connect via SSH, use: ssh dev\n')
  const userConfig = await readFile(join(d.home, '.ssh', 'config'), 'utf8')
  assert.ok(userConfig.startsWith('Include ~/.dstack/ssh/config\n'), userConfig)
  assert.match(await readFile(join(d.home, '.dstack', 'ssh', 'config'), 'utf8'), /^Host dev\n {4}HostName 127\.0\.0\.1\n {4}Port \d+\n {4}User main\/dev\n/)
  const r = await waitFor(async () => {
    const x = await sshAs(d.home, ['dev', 'echo $DSTACK_RUN_NAME'])
    return x.code === 0 ? x : null
  }, { what: 'ssh dev to answer', timeout: 60_000 }).catch(async () => await sshAs(d.home, ['-v', 'dev', 'echo $DSTACK_RUN_NAME']))
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, 'dev\n')
})

test('stop removes the run\'s entry; the next apply -d drops the entries of runs that ended meanwhile', async () => {
  assert.is((await dstack(d, ['stop', '-x', '-y', 'dev'])).code, 0)
  assert.not.match(await readFile(join(d.home, '.dstack', 'ssh', 'config'), 'utf8'), /Host dev\n/)
  const r = await sshAs(d.home, ['dev', 'true'])
  assert.not.equal(r.code, 0)
})

const engine = await engineMissing()
;(engine === null && namespaceMissing() === null ? plainTest : plainTest.skip)('a dev environment in a container: its link opens /workflow, and `ssh RUN` runs inside it', async () => {
  const out = await devEnvironment('devc', 'image: local/debian:bookworm\n')
  assert.match(out, '  vscode://vscode-remote/ssh-remote+devc/workflow\n')
  const r = await waitFor(async () => {
    const x = await sshAs(d.home, ['devc', 'echo $DSTACK_RUN_NAME; pwd'])
    return x.code === 0 ? x : null
  }, { what: 'ssh devc to answer', timeout: 60_000 }).catch(async () => await sshAs(d.home, ['devc', 'echo $DSTACK_RUN_NAME; pwd']))
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, 'devc\n/workflow\n')
  assert.is((await dstack(d, ['stop', '-x', '-y', 'devc'])).code, 0)
})

test.run()
