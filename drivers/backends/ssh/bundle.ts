// Which dstackd bundle to install: DSTACKD_BUNDLE (a tarball from scripts/bundle-dstackd.js),
// else one built now from these sources (a second, 1 s, once per process: a bundle left in
// dist/ may be older than the sources; the content hash keeps uploads to once per version).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout this code runs from (its sources, or its dist/ bundle): where scripts/ is. */
function checkoutRoot (): string | null {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'scripts', 'bundle-dstackd.js'))) return dir
    const up = dirname(dir)
    if (up === dir) break
    dir = up
  }
  return null
}

export interface Bundle { path: string, hash: string }

let cached: Promise<Bundle> | null = null

async function locate (): Promise<Bundle> {
  const given = process.env.DSTACKD_BUNDLE
  if (given) return { path: given, hash: createHash('sha256').update(readFileSync(given)).digest('hex').slice(0, 16) }
  const root = checkoutRoot()
  if (root === null) throw new Error('no dstackd bundle to install: this dstackd is an installed bundle, with no sources to build one from; set DSTACKD_BUNDLE to a tarball from scripts/bundle-dstackd.js')
  const script = join(root, 'scripts', 'bundle-dstackd.js')
  const { bundleDstackd } = await import(script) as { bundleDstackd: () => Promise<Bundle> }
  return await bundleDstackd()
}

/** The bundle, found (or built) once per process. */
export function dstackdBundle (): Promise<Bundle> {
  cached ??= locate().catch(err => { cached = null; throw err })
  return cached
}
