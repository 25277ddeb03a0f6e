// Where job directories go and as whom jobs run: never inside the data dir; as root, somewhere
// the job user can pass through, as an unprivileged user.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { prepareJobsArea, SHARED_JOBS_ROOT } from '../../../daemon/agent/jobs-area.ts'

const tmp = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-area-test-'))
const made: string[] = []
test.after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true })
  fs.rmSync(tmp, { recursive: true, force: true })
})
const asRoot = process.getuid?.() === 0
const log = () => {}

async function rejects (p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p } catch (e) { assert.match((e as Error).message, re); return }
  assert.unreachable(`expected a rejection matching ${re}`)
}

test('a jobs dir inside the data dir is refused', async () => {
  const dataDir = join(tmp, 'data')
  await rejects(prepareJobsArea({ dataDir, jobsDir: join(dataDir, 'jobs'), log }), /inside the data dir/)
  await rejects(prepareJobsArea({ dataDir, jobsDir: dataDir, log }), /inside the data dir/)
})

test('the default is the data dir\'s sibling DATA-jobs where the job user can reach it, mode 0711', async () => {
  fs.chmodSync(tmp, 0o711)
  const dataDir = join(tmp, 'open', 'data')
  const area = await prepareJobsArea({ dataDir, log })
  assert.is(area.dir, `${dataDir}-jobs`)
  assert.is(fs.statSync(area.dir).mode & 0o777, 0o711)
  if (asRoot) {
    assert.ok(area.user && area.user.uid !== 0, 'an unprivileged user')
    assert.is(area.note, null)
    const home = fs.statSync(join(area.dir, 'home'))
    assert.is(home.uid, area.user!.uid, 'its home is its own')
    assert.is(home.mode & 0o777, 0o700)
  } else {
    assert.is(area.user, null)
    assert.match(area.note ?? '', /can read what dstackd can/)
  }
})

test('as root: behind a directory others cannot pass through, the default moves to /var/lib/dstackd-jobs; an explicit dir is refused', async () => {
  if (!asRoot) { console.log('  (skipped: needs root)'); return }
  const closed = join(tmp, 'closed')
  fs.mkdirSync(closed, { mode: 0o700 })
  fs.chmodSync(closed, 0o700)
  const dataDir = join(closed, 'data')
  const area = await prepareJobsArea({ dataDir, log })
  made.push(area.dir)
  assert.ok(area.dir.startsWith(SHARED_JOBS_ROOT + '/'), area.dir)
  assert.is((await prepareJobsArea({ dataDir, log })).dir, area.dir, 'the same data dir, the same place')
  await rejects(prepareJobsArea({ dataDir, jobsDir: join(closed, 'jobs'), log }), new RegExp(`cannot pass through ${closed}`))
})

test.run()
