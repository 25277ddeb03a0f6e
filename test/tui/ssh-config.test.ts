// The client's SSH files (tui/ssh-config.ts, tui/ssh-entries.ts) and local port picking
// (tui/forward.ts), with HOME pointed at a temporary dir: the real ~/.ssh is never touched.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  collapseHome, ensureInclude, entriesPath, formatBlocks, parseBlocks, pinHostKey, replaceBlocks, updateEntries, withLock
} from '../../tui/ssh-config.ts'
import { aliasOf, clientKey, clientKeyPath, pruneBlocks, runBlocks, type Gateway } from '../../tui/ssh-entries.ts'
import { bindPorts, portRequests } from '../../tui/forward.ts'
import { attachText, devEnvironmentText, ideLink } from '../../tui/attach.ts'

const realHome = process.env.HOME
let home = ''

test.before.each(async () => {
  home = await mkdtemp(join(tmpdir(), 'dstack-ssh-'))
  process.env.HOME = home
})

test.after.each(async () => {
  process.env.HOME = realHome
  await rm(home, { recursive: true, force: true })
})

const gateway: Gateway = { host: '127.0.0.1', port: 10022, project: 'main' }
const job = (replica: number, jobNum: number) => ({ replica_num: replica, job_num: jobNum }) as never
const read = (file: string) => readFile(file, 'utf8')

test('entries: Host then 4-space Key Value lines, paths collapsed to ~', async () => {
  await updateEntries(blocks => replaceBlocks(blocks, runBlocks(gateway, { name: 'dev', jobs: [job(0, 0)] })))
  assert.is(await read(entriesPath()), [
    'Host dev',
    '    HostName 127.0.0.1',
    '    Port 10022',
    '    User main/dev',
    '    IdentityFile ~/.dstack/ssh/id_ed25519',
    '    IdentitiesOnly yes',
    '    UserKnownHostsFile ~/.dstack/known_hosts',
    '    StrictHostKeyChecking yes',
    ''
  ].join('\n'))
  assert.is(collapseHome(join(home, 'a', 'b')), '~/a/b')
  assert.is(collapseHome('/etc/x'), '/etc/x')
})

test('entries: a multi-job run gets RUN and RUN-REPLICA-JOB aliases, each its own login', () => {
  const blocks = runBlocks(gateway, { name: 'train', jobs: [job(0, 0), job(0, 1)] })
  assert.equal(blocks.map(b => b.alias), ['train', 'train-0-0', 'train-0-1'])
  assert.equal(blocks.map(b => b.options.find(([k]) => k === 'User')![1]), ['main/train', 'main/train', 'main/train-0-1'])
  assert.is(aliasOf('train', 1, 2), 'train-1-2')
})

test('entries: writing a run again replaces its block in place, others stay', async () => {
  const other: Gateway = { ...gateway, port: 2222 }
  await updateEntries(blocks => replaceBlocks(blocks, [...runBlocks(gateway, { name: 'a', jobs: [job(0, 0)] }), ...runBlocks(other, { name: 'b', jobs: [job(0, 0)] })]))
  await updateEntries(blocks => replaceBlocks(blocks, runBlocks({ ...gateway, port: 3333 }, { name: 'a', jobs: [job(0, 0)] })))
  const blocks = parseBlocks(await read(entriesPath()))
  assert.equal(blocks.map(b => b.alias), ['a', 'b'])
  assert.equal(blocks[0]!.options.find(([k]) => k === 'Port'), ['Port', '3333'])
  assert.equal(blocks[1]!.options.find(([k]) => k === 'Port'), ['Port', '2222'])
  assert.equal(parseBlocks(formatBlocks(blocks)), blocks, 'parse and format are inverse')
})

test('prune: the gateway project\'s entries of ended runs go; live runs and others\' entries stay', () => {
  const blocks = [
    ...runBlocks(gateway, { name: 'live', jobs: [job(0, 0), job(0, 1)] }),
    ...runBlocks(gateway, { name: 'gone', jobs: [job(0, 0), job(1, 0)] }),
    ...runBlocks({ ...gateway, project: 'other' }, { name: 'gone', jobs: [job(0, 0)] }).map(b => ({ ...b, alias: 'other-gone' })),
    ...runBlocks({ ...gateway, port: 2222 }, { name: 'elsewhere', jobs: [job(0, 0)] }),
    { alias: 'mine', options: [['HostName', 'example.org']] as Array<[string, string]> }
  ]
  assert.equal(pruneBlocks(blocks, gateway, ['live']).map(b => b.alias), ['live', 'live-0-0', 'live-0-1', 'other-gone', 'elsewhere', 'mine'])
  // A run whose name extends another's keeps only its own entries.
  assert.equal(pruneBlocks(runBlocks(gateway, { name: 'live-x', jobs: [job(0, 0)] }), gateway, ['live']), [])
})

test('lock: concurrent writers all land, none lost', async () => {
  await Promise.all(Array.from({ length: 20 }, (_, i) =>
    updateEntries(blocks => replaceBlocks(blocks, runBlocks(gateway, { name: `run${i}`, jobs: [job(0, 0)] })))))
  const aliases = parseBlocks(await read(entriesPath())).map(b => b.alias).sort()
  assert.equal(aliases, Array.from({ length: 20 }, (_, i) => `run${i}`).sort())
  await assert.not.ok(await stat(`${entriesPath()}.lock`).catch(() => null), 'the lock is released')
})

test('lock: a lock left by a dead process is taken over', async () => {
  await mkdir(join(home, '.dstack', 'ssh'), { recursive: true })
  await writeFile(`${entriesPath()}.lock`, '999999999')
  let ran = false
  await withLock(entriesPath(), async () => { ran = true })
  assert.ok(ran)
})

test('include: prepended to ~/.ssh/config once, its content kept; created when missing', async () => {
  assert.is(await ensureInclude(), null)
  assert.is(await read(join(home, '.ssh', 'config')), 'Include ~/.dstack/ssh/config\n\n')
  await rm(join(home, '.ssh', 'config'))
  await writeFile(join(home, '.ssh', 'config'), 'Host *\n    ServerAliveInterval 30\n')
  assert.is(await ensureInclude(), null)
  assert.is(await ensureInclude(), null)
  assert.is(await read(join(home, '.ssh', 'config')), 'Include ~/.dstack/ssh/config\n\nHost *\n    ServerAliveInterval 30\n')
})

test('include: a ~/.ssh/config that cannot be written gives a warning with the line to add', async () => {
  await writeFile(join(home, '.ssh'), 'not a directory')
  const warning = await ensureInclude()
  assert.ok(warning !== null)
  assert.match(warning!, /~\/\.ssh\/config cannot be changed/)
  assert.match(warning!, /Include ~\/\.dstack\/ssh\/config/)
})

test('known hosts: a node\'s key is pinned once, never replaced', async () => {
  await pinHostKey('127.0.0.1', 10022, 'ssh-ed25519 AAAAfirst')
  await pinHostKey('127.0.0.1', 10022, 'ssh-ed25519 AAAAsecond')
  await pinHostKey('127.0.0.1', 22, 'ssh-ed25519 AAAAthird')
  assert.is(await read(join(home, '.dstack', 'known_hosts')), '[127.0.0.1]:10022 ssh-ed25519 AAAAfirst\n127.0.0.1 ssh-ed25519 AAAAthird\n')
})

test('client key: made once (0600), the same key afterwards', async () => {
  const first = await clientKey()
  assert.match(first, /^ssh-ed25519 AAAA\S+ dstack$/)
  assert.is(await clientKey(), first)
  assert.is((await stat(clientKeyPath())).mode & 0o777, 0o600)
  assert.match(await read(clientKeyPath()), /BEGIN OPENSSH PRIVATE KEY/)
})

function occupy (port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
}

async function freePort (): Promise<number> {
  const s = await occupy(0)
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

test('ports: the run\'s own ports move up when taken; *:C starts at C; -p L:C must be free', async () => {
  const base = await freePort()
  const taken = await occupy(base)
  try {
    const implicit = await bindPorts(portRequests([{ local_port: base, container_port: base }], [], 'r'))
    assert.ok(implicit[0]!.local > base)
    for (const b of implicit) b.server.close()
    const star = await bindPorts(portRequests([{ local_port: base, container_port: base }], [{ local_port: null, container_port: base }], 'r'))
    assert.ok(star[0]!.local > base)
    for (const b of star) b.server.close()
    try {
      await bindPorts(portRequests([{ local_port: base, container_port: base }], [{ local_port: base, container_port: base }], 'r'))
      assert.unreachable('a taken explicit port is an error')
    } catch (err) {
      assert.is((err as Error).message, `port ${base} is already in use; use \`-p ${base + 1}:${base}\` to forward it to another local port`)
    }
  } finally {
    taken.close()
  }
  assert.throws(() => portRequests([{ local_port: 80, container_port: 80 }], [{ local_port: 9000, container_port: 81 }], 'web'), /run web does not expose port 81 \(its ports: 80\)/)
  assert.equal(portRequests([{ local_port: 8000, container_port: 80 }], [], 'r'), [{ local: 8000, container: 80, exact: true }])
})

test('texts: dstack\'s attach text and dev environment links', () => {
  assert.is(attachText({ run: 'app', replica: 0, job: 0 }, [{ local: 7860, container: 7860 }], 'app', true), [
    'Attached to run app (replica=0 job=0)',
    'Forwarded ports (local -> remote):',
    '  - localhost:7860 -> 7860',
    'To connect to the run via SSH, use `ssh app`.',
    'Press Ctrl+C to detach...',
    ''
  ].join('\n'))
  assert.is(devEnvironmentText('vscode', 'dev', '/workflow'), 'To open in VS Code, use link below:\n\n  vscode://vscode-remote/ssh-remote+dev/workflow\n\nTo connect via SSH, use: ssh dev\n')
  assert.is(ideLink('cursor', 'dev', '/workflow'), 'cursor://vscode-remote/ssh-remote+dev/workflow')
  assert.is(ideLink('windsurf', 'dev', ''), 'windsurf://vscode-remote/ssh-remote+dev')
  assert.is(ideLink('zed', 'dev', '/workflow'), 'zed://ssh/dev/workflow')
  assert.is(devEnvironmentText(null, 'dev', ''), 'To connect via SSH, use: ssh dev\n')
})

test.run()
