// The stock OpenSSH client into a job through the real gateway of a node that does not run it:
// `ssh RUN 'echo $DSTACK_RUN_NAME'` prints the run's name (relayed over the mesh to the job's
// host), exit codes come back, and scp (sftp) writes into the job.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCluster, dstackd, type Host } from './cluster.ts'
import { runningTarget } from './sessions.ts'
import type { Result } from './harness.ts'

let hosts: Host[]
let work: string
let key: string
let entry: { port: number }
const RUN = 'sshbox'

function run (cmd: string, args: string[], timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout.on('data', b => { stdout += b })
    child.stderr.on('data', b => { stderr += b })
    child.on('error', reject)
    child.on('close', code => { clearTimeout(t); resolve({ code, stdout, stderr }) })
  })
}

const sshOptions = () => ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', `User=main/${RUN}`]
const ssh = (command: string) => run('ssh', [...sshOptions(), '-p', String(entry.port), '127.0.0.1', command])

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-ssh-jobs-'))
  hosts = await startCluster(2, {}, {}, ['--ssh-port', '0'])
  key = join(work, 'id_ed25519')
  const k = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
  assert.is(k.code, 0, k.stderr)
  const added = await dstackd(['user', 'add-key', 'admin', `${key}.pub`, '--data-dir', hosts[0]!.dataDir], hosts[0]!.env)
  assert.is(added.code, 0, added.stderr + added.stdout)
  const target = await runningTarget(hosts[0]!, work, RUN, 'type: task\ncommands: [sleep 600]\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  // The entry point is the node that does not run the job: the session crosses the mesh.
  const statuses = await Promise.all(hosts.map(h => h.status()))
  const other = hosts[statuses.findIndex(s => s.peer_id !== target.node)]!
  const port = /"ssh gateway listening"[^\n]*"port":(\d+)/.exec(other.log())?.[1]
  assert.ok(port, 'the gateway says where it listens')
  entry = { port: Number(port) }
})

test.after(async () => {
  await Promise.all((hosts ?? []).map(h => h.cleanup()))
  await rm(work, { recursive: true, force: true })
})

test('ssh RUN \'echo $DSTACK_RUN_NAME\' through another node prints the run\'s name', async () => {
  const r = await ssh('echo $DSTACK_RUN_NAME')
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, `${RUN}\n`)
})

test('the command\'s exit status is ssh\'s', async () => {
  const r = await ssh('echo bye >&2; exit 42')
  assert.is(r.code, 42)
  assert.is(r.stderr, 'bye\n')
})

test('scp writes a file into the job', async () => {
  const local = join(work, 'hello.txt')
  await writeFile(local, 'hello from scp\n')
  const remote = `/tmp/dstackd-scp-${process.pid}.txt`
  const r = await run('scp', [...sshOptions(), '-P', String(entry.port), local, `127.0.0.1:${remote}`])
  assert.is(r.code, 0, r.stderr)
  const back = await ssh(`cat ${remote}; rm -f ${remote}`)
  assert.is(back.stdout, 'hello from scp\n')
})

test.run()
