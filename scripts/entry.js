// Shared by tui/bin.js and daemon/bin.js: run the bundle in dist/ when it is fresh, else the
// TypeScript sources through tsx. "Fresh" means built after the last change to any source.
import { readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Script } from 'node:vm'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

function newestSource (dir) {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (/\.(ts|js|json)$/.test(e.name) && e.name !== 'bin.js') newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

function bundleIsFresh () {
  try {
    const built = statSync(join(root, 'dist', 'BUILT')).mtimeMs
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
 */
export function loadWithCodeCache (file) {
  const cacheFile = `${file}.cache`
  let cachedData
  try { cachedData = readFileSync(cacheFile) } catch {}
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'utf8')}\n})`, { filename: file, cachedData })
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

/**
 * Runs a command: `dist/NAME.cjs` through the code cache, else `dist/NAME.js` (an ES module),
 * else, when the bundle is stale or DSTACK_NO_BUNDLE=1, the TypeScript source through tsx.
 * With `main`, the module exports `main(argv)` (resolving to the exit code) for this to call;
 * otherwise it runs itself when imported.
 */
export async function run (name, source, opts = {}) {
  let mod
  if (process.env.DSTACK_NO_BUNDLE !== '1' && bundleIsFresh()) {
    const cjs = join(root, 'dist', `${name}.cjs`)
    let isCjs = true
    try { statSync(cjs) } catch { isCjs = false }
    mod = isCjs ? loadWithCodeCache(cjs) : await import(pathToFileURL(join(root, 'dist', `${name}.js`)).href)
  } else {
    const { register } = await import('tsx/esm/api')
    register()
    mod = await import(pathToFileURL(join(root, source)).href)
  }
  if (opts.main) process.exitCode = await mod.main(process.argv.slice(2))
}
