// Shared by tui/bin.js and daemon/bin.js: run the bundle in dist/ when it is fresh, else the
// TypeScript sources through tsx. "Fresh" means built after the last change to any source
// (scripts/entry.cjs, which tui/start.cjs uses too).
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import entry from './entry.cjs'

export const { bundleIsFresh, loadWithCodeCache } = entry
const root = entry.root

/**
 * Runs a command: `dist/NAME.cjs` through the code cache, else `dist/NAME.js` (an ES module),
 * else, when the bundle is stale or DSTACK_NO_BUNDLE=1, the TypeScript source through tsx.
 * With `main`, the module exports `main(argv)` (resolving to the exit code) for this to call;
 * otherwise it runs itself when imported.
 */
export async function run (name, source, opts = {}) {
  let mod
  if (process.env.DSTACK_NO_BUNDLE !== '1' && bundleIsFresh(name)) {
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
