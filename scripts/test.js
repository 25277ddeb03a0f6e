#!/usr/bin/env node
// The test command: the type check, then every uvu suite under test/ (or those matching the
// patterns given). Ends with the plain line `N passed, N failed` that CI reads.
// A suite that cannot set itself up prints `SKIPPED SUITE <file> (needs <what>): <why>`
// (test/skip.ts): those are listed again at the end, and in CI as root a suite skipped for
// want of root counts as failed — CI is where the namespace suites must run.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const skipTypecheck = args.includes('--no-typecheck')
const patterns = args.filter(a => !a.startsWith('--'))

/** After uvu's summary, how long its process may take to exit before it is killed. */
const EXIT_GRACE_MS = 30_000

// Resolves on the child's exit, not when its stdout closes: a daemon a test started in the
// background may hold a copy of that pipe. A child that printed uvu's summary and still runs
// (a test left a handle open) is killed after a grace, and that counts as a failure: a hang
// must never stall CI.
function run (cmd, argv) {
  return new Promise(resolve => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    let hung = false
    let timer = null
    child.stdout.on('data', d => {
      out += d
      process.stdout.write(d)
      if (timer === null && /Duration:/.test(out.slice(-4096))) {
        timer = setTimeout(() => {
          hung = true
          process.stdout.write(`\nFAILED: the test process did not exit ${EXIT_GRACE_MS / 1000} s after its summary (a test left a handle open); killed\n`)
          child.kill('SIGKILL')
        }, EXIT_GRACE_MS)
      }
    })
    child.on('exit', code => {
      if (timer !== null) clearTimeout(timer)
      // Let what is still in the pipe arrive, without waiting for whoever else holds it.
      setImmediate(() => { child.stdout.destroy(); resolve({ code, out, hung }) })
    })
  })
}

let passed = 0
let failed = 0

if (!skipTypecheck && patterns.length === 0) {
  process.stdout.write('typecheck: tsc --noEmit\n')
  const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'])
  if (tsc.code === 0) { passed++; process.stdout.write('typecheck: ok\n') } else { failed++; process.stdout.write('typecheck: FAILED\n') }
}

const uvu = await run(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test', patterns.length ? patterns.join('|') : '\\.test\\.ts$'])
const plain = uvu.out.replace(/\x1b\[[0-9;]*m/g, '')
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0)
const ok = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0)
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0)
passed += ok
// uvu's total leaves skipped tests out: every test it ran and did not pass failed.
failed += Math.max(0, total - ok)
// A suite that crashed before reporting counts as a failure even when uvu printed no totals.
if (uvu.hung || (uvu.code !== 0 && total - ok <= 0)) failed++

const skippedSuites = [...plain.matchAll(/^SKIPPED SUITE (\S+) \(needs ([^)]*)\): (.*)$/gm)]
  .map(([, file, needs, why]) => ({ file, needs, why }))
const mustRun = process.env.CI === 'true' && process.getuid?.() === 0
for (const s of skippedSuites) {
  const fatal = mustRun && /\broot\b/.test(s.needs)
  if (fatal) failed++
  process.stdout.write(`${fatal ? 'FAILED (skipped in CI as root, where it must run)' : 'SKIPPED'}: ${s.file} needs ${s.needs}: ${s.why}\n`)
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped (${skippedSuites.length} suites)` : ''}`)
process.exit(failed === 0 ? 0 : 1)
