// The stock OpenSSH client into a job through the real gateway of a node that does not run it:
// `ssh RUN 'echo $DSTACK_RUN_NAME'` prints the run's name (relayed over the mesh to the job's
// host), exit codes come back, and scp (sftp) writes into the job.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCluster, type Host } from './cluster.ts'
import { gatewayPort, runningTarget, stockSsh, type StockSsh } from './sessions.ts'

let hosts: Host[]
let work: string
let client: StockSsh
const RUN = 'sshbox'

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-e2e-ssh-jobs-'))
  hosts = await startCluster(2, {}, {}, ['--ssh-port', '0'])
  const target = await runningTarget(hosts[0]!, work, RUN, 'type: task\ncommands: [sleep 600]\nresources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n')
  // The entry point is the node that does not run the job: the session crosses the mesh.
  const statuses = await Promise.all(hosts.map(h => h.status()))
  const other = hosts[statuses.findIndex(s => s.peer_id !== target.node)]!
  client = await stockSsh(hosts[0]!, work, RUN, gatewayPort(other))
})

test.after(async () => {
  await Promise.all((hosts ?? []).map(h => h.cleanup()))
  await rm(work, { recursive: true, force: true })
})

test('ssh RUN \'echo $DSTACK_RUN_NAME\' through another node prints the run\'s name', async () => {
  const r = await client.ssh('echo $DSTACK_RUN_NAME')
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, `${RUN}\n`)
})

test('the command\'s exit status is ssh\'s', async () => {
  const r = await client.ssh('echo bye >&2; exit 42')
  assert.is(r.code, 42)
  assert.is(r.stderr, 'bye\n')
})

test('scp writes a file into the job', async () => {
  const local = join(work, 'hello.txt')
  await writeFile(local, 'hello from scp\n')
  const remote = `/tmp/dstackd-scp-${process.pid}.txt`
  const r = await client.scp(local, remote)
  assert.is(r.code, 0, r.stderr)
  const back = await client.ssh(`cat ${remote}; rm -f ${remote}`)
  assert.is(back.stdout, 'hello from scp\n')
})

test.run()
