// What both ways of starting a command need, in CommonJS so that a launcher written in
// CommonJS (tui/start.cjs) starts without Node's ES module loader: whether the bundle in dist/
// is fresh, and loading a CommonJS bundle through V8's code cache. scripts/entry.js, the ES
// module side, uses the same two.
'use strict'
const { readFileSync, readdirSync, renameSync, statSync, writeFileSync } = require('node:fs')
const { createRequire } = require('node:module')
const { dirname, join } = require('node:path')
const { Script, constants: vmConstants } = require('node:vm')

const root = join(__dirname, '..')

function newestSource (dir) {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (/\.(ts|js|json)$/.test(e.name) && e.name !== 'bin.js') newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

/**
 * The bundle dist/NAME was built after the last change to any of its sources: those the build
 * listed in dist/NAME.inputs (a JSON list of paths under the root; a missing one means stale),
 * else every source file of the four source folders.
 */
function bundleIsFresh (name) {
  try {
    const built = statSync(join(root, 'dist', 'BUILT')).mtimeMs
    let inputs
    try { inputs = JSON.parse(readFileSync(join(root, 'dist', `${name}.inputs`), 'utf8')) } catch {}
    if (inputs !== undefined) return inputs.every(p => statSync(join(root, p)).mtimeMs < built)
    return ['tui', 'daemon', 'drivers', 'mesh'].every(d => { try { return newestSource(join(root, d)) < built } catch { return true } })
  } catch {
    return false
  }
}

/**
 * Loads a CommonJS bundle with V8's code cache (FILE.cache beside it): what was compiled in an
 * earlier run is not parsed and compiled again. Node 20 keeps no such cache by itself. A cache
 * that is missing, or that V8 rejects (another Node, other V8 flags), is written anew when this
 * process exits, with everything the run compiled; where dist/ is not writable it is not kept.
 * FILE must be ASCII (the client's bundle is: scripts/bundle-options.js): it is read as latin1.
 */
function loadWithCodeCache (file) {
  const cacheFile = `${file}.cache`
  let cachedData
  try { cachedData = readFileSync(cacheFile) } catch {}
  // import() inside the bundle (the full-screen app loads ink so: tui/app/load.ts) goes to Node's
  // own loader; without this a vm.Script has none (Node >= 20.12).
  const importModuleDynamically = vmConstants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'latin1')}\n})`, { filename: file, cachedData, ...(importModuleDynamically ? { importModuleDynamically } : {}) })
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`
        writeFileSync(tmp, script.createCachedData())
        renameSync(tmp, cacheFile)
      } catch {}
    })
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
  return module.exports
}

module.exports = { root, bundleIsFresh, loadWithCodeCache }
