// scripts/entry.js loads the client's CommonJS bundle through V8's code cache: a cache written
// by one run is used by the next, and a missing or rejected one is written anew.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../e2e/harness.ts'

const ENTRY = join(ROOT, 'scripts', 'entry.js')

/** Loads FILE in a fresh Node (the cache is written when that process exits); prints its `answer`. */
function load (file: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e',
    `const { loadWithCodeCache } = await import(${JSON.stringify(ENTRY)}); console.log(loadWithCodeCache(${JSON.stringify(file)}).answer())`], { encoding: 'utf8' }).trim()
}

test('the first load writes FILE.cache, the next ones use it, a rejected cache is replaced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dstack-entry-'))
  try {
    const file = join(dir, 'bundle.cjs')
    await writeFile(file, "const { join } = require('node:path'); exports.answer = () => join('a', String(6 * 7)) + ':' + require('node:path').basename(__filename)\n")
    assert.is(load(file), 'a/42:bundle.cjs')
    const cache = await readFile(`${file}.cache`)
    assert.ok(cache.length > 0)
    assert.is(load(file), 'a/42:bundle.cjs')
    assert.ok((await readFile(`${file}.cache`)).equals(cache), 'an accepted cache is left as it is')
    await writeFile(`${file}.cache`, 'not a code cache')
    assert.is(load(file), 'a/42:bundle.cjs')
    const rewritten = await readFile(`${file}.cache`)
    assert.not.equal(rewritten.toString('latin1'), 'not a code cache', 'a rejected cache is written anew')
    assert.is(load(file), 'a/42:bundle.cjs')
    assert.ok((await readFile(`${file}.cache`)).equals(rewritten), 'and the new one is accepted')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
