// Shared by tui/bin.js and daemon/bin.js: run the bundle in dist/ when it is fresh, else the
// TypeScript sources through tsx. "Fresh" means built after the last change to any source.
import { readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

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

export async function run (name, source) {
  if (process.env.DSTACK_NO_BUNDLE !== '1' && bundleIsFresh()) {
    await import(pathToFileURL(join(root, 'dist', `${name}.js`)).href)
    return
  }
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(join(root, source)).href)
}
