// A suite that needs what a machine may lack (root, iproute2, …) decides at load time whether
// it can run. When it cannot, it says so loudly — a `SKIPPED SUITE` line that scripts/test.js
// counts, reprints and, in CI as root, fails on — and its tests count as skipped, its hooks
// never run. Never an early return inside a test: uvu counts that as passed.
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'

type Test = typeof test

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The line scripts/test.js looks for: `SKIPPED SUITE <file> (needs <what>): <why>`. */
export const SKIP_MARKER = 'SKIPPED SUITE'

/**
 * uvu's `test` when `missing` is null. Otherwise prints why the suite `moduleUrl`
 * (its `import.meta.url`) cannot run and returns a `test` whose every test is skipped.
 * `needs` names the requirement, e.g. "root" or "root and iproute2".
 */
export function suiteNeeding (moduleUrl: string, needs: string, missing: string | null): Test {
  if (missing === null) return test
  const file = relative(ROOT, fileURLToPath(moduleUrl))
  console.log(`\x1b[33m${SKIP_MARKER} ${file} (needs ${needs}): ${missing}\x1b[0m`)
  const skip = (() => { test.skip() }) as unknown as Test
  const none = Object.assign(() => undefined, { each: () => undefined })
  return Object.assign(skip, { skip, only: skip, before: none, after: none, run: test.run }) as unknown as Test
}
