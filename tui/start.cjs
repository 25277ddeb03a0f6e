'use strict'
// `dstack` run as a program: tui/bin.js's first line starts Node on this file. CommonJS, so
// that Node's ES module loader (~20 ms of every command here) is never started when the bundle
// is fresh: dist/dstack.cjs is loaded through V8's code cache (scripts/entry.cjs). Otherwise
// tui/bin.js runs the sources, as it does when started through `node`.
const { existsSync } = require('node:fs')
const { join } = require('node:path')
const { pathToFileURL } = require('node:url')

// Put back what tui/bin.js's shell line took away, before anything the client starts (a local
// dstackd) or passes on (a job's env) could miss it.
if (process.env.DSTACK_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.DSTACK_NODE_EXTRA_CA_CERTS
  delete process.env.DSTACK_NODE_EXTRA_CA_CERTS
}

// Where tui/launch.sh found no resident client (tui/resident.cjs) to ask; not passed on.
const residentDir = process.env.DSTACK_RESIDENT_START
delete process.env.DSTACK_RESIDENT_START

/** A resident client could not start in DIR within the day (DIR/unusable says why): do not start one at every command. */
function recentlyUnusable (dir) {
  try { return Date.now() - require('node:fs').statSync(join(dir, 'unusable')).mtimeMs < 86_400_000 } catch { return false }
}

const entry = require('../scripts/entry.cjs')
const bundle = join(entry.root, 'dist', 'dstack.cjs')
if (process.env.DSTACK_NO_BUNDLE !== '1' && entry.bundleIsFresh('dstack') && existsSync(bundle)) {
  const client = entry.loadWithCodeCache(bundle)
  const argv = process.argv.slice(2)
  client.main(argv).then(async code => {
    process.exitCode = code
    // A command that a resident client would have run: start one for the next (it ends after a
    // minute without a command). Only from the bundle, which is all it runs, and on Linux (/proc).
    if (residentDir !== undefined && residentDir !== '' && process.platform === 'linux' && !recentlyUnusable(residentDir) && await client.residentServes(argv)) {
      const { spawn } = require('node:child_process')
      spawn(process.execPath, [join(__dirname, 'resident.cjs'), residentDir], { detached: true, stdio: 'ignore' }).unref()
    }
  })
} else {
  import(pathToFileURL(join(__dirname, 'bin.js')).href)
}
