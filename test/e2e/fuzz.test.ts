// Random command lines at the real dstack command, against a real dstackd: every subcommand
// (as `dstack --help` lists them) with its own flags (as its --help lists them), mangled,
// mixed with stray values. Nothing may crash (a stack trace, an exit code other than 0, 1 or
// 2, a failure without a message), hang, or take the daemon down. DSTACK_FUZZ_RUNS sets the
// number of command lines (default 50); a failure prints fast-check's seed to replay it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dstack, startDaemon, writeConfig, type Daemon, type Result } from './harness.ts'

let d: Daemon
let work: string
let files: string[] = []

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dstackd-fuzz-'))
  d = await startDaemon()
  const small = 'resources:\n  cpu: 0..\n  memory: 0..\n  disk: 0..\n'
  files = [
    await writeConfig(work, 'ok.dstack.yml', `type: task\nname: fuzzed\ncommands: [echo fuzz]\n${small}`),
    await writeConfig(work, 'bad.dstack.yml', 'type: task\ncomands: [echo]\nresources: {gpu: "A100:2:3"}\n'),
    await writeConfig(work, 'fleet.dstack.yml', 'type: fleet\nname: f\nnodes: 2\n'),
    join(work, 'missing.dstack.yml'),
    work
  ]
})

test.after(async () => {
  await d?.cleanup()
  await rm(work, { recursive: true, force: true })
})

/** What a crash looks like in a command's output: a JavaScript stack or an internal error. */
const CRASH = /^\s+at .+:\d+:\d+\)?$|node:internal|TypeError|ReferenceError|RangeError|SyntaxError|Cannot read properties|is not a function|Unhandled|\[object Object\]/m

function problem (argv: string[], r: Result): string | null {
  if (r.timedOut) return 'hung (killed after 60 s)'
  if (r.code !== 0 && r.code !== 1 && r.code !== 2) return `exit code ${r.code}`
  if (CRASH.test(r.stderr) || CRASH.test(r.stdout)) return 'a crash in its output'
  if (r.code !== 0 && r.stderr.trim() === '') return `exit code ${r.code} without a message`
  return null
}

function check (argv: string[], r: Result): void {
  const p = problem(argv, r)
  if (p) assert.unreachable(`dstack ${argv.map(a => JSON.stringify(a)).join(' ')}: ${p}\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${r.stderr.slice(-2000)}`)
}

/** The subcommands `dstack --help` lists, and the flags each one's --help lists. */
async function surface (): Promise<Map<string, string[]>> {
  const help = await dstack(d, ['--help'])
  const commands = [...help.stdout.split('Commands:')[1]!.split('Options:')[0]!.matchAll(/^ {2}(\w+) /gm)].map(m => m[1]!)
  const out = new Map<string, string[]>()
  for (const c of commands) {
    const r = await dstack(d, [c, '--help'])
    check([c, '--help'], r)
    assert.is(r.code, 0, `${c} --help`)
    assert.match(r.stdout, /Usage: dstack /)
    out.set(c, [...new Set([...r.stdout.matchAll(/(?<![\w-])(--?[a-zA-Z][\w-]*)/g)].map(m => m[1]!))])
  }
  return out
}

/** Flags that keep a command running until Ctrl+C, by design: left out, or every run would "hang". */
function watches (command: string, token: string): boolean {
  if (['ps', 'event', 'fleet'].includes(command)) return /^-[a-zA-Z]*w|^--watch/.test(token)
  if (command === 'logs') return /^-[a-zA-Z]*f|^--follow/.test(token)
  return false
}

test('every subcommand has --help, and random command lines never crash or hang it', async () => {
  const commands = await surface()
  assert.ok(commands.size >= 10, `only ${[...commands.keys()].join(', ')}`)
  const names = [...commands.keys()]
  const noNul = (s: string) => !s.includes('\0')
  const value = fc.oneof(
    fc.constantFrom('0', '1', '-1', '3', '1.5', '1e9', '99999999999999999999', 'NaN', 'abc', '', ' ', '-', '--', '=',
      'hello', 'fuzzed', 'nosuch', 'local', 'get', 'list', 'delete', 'download', 'gpu', 'gpu,backend,region,count', 'region',
      'A100:80GB:2', '24GB..', 'cpu=2', 'spot', 'auto', '5m', '1d', '2026-01-01T00:00:00Z', '2026-13-45', 'K=V', '8080:80',
      'ünïcødé', '$(echo hi)', '"quoted"', 'x'.repeat(300), ...files),
    fc.string({ maxLength: 12 }).filter(noNul)
  )
  const argv = fc.constantFrom(...names).chain(command => {
    const flags = commands.get(command)!.filter(f => !watches(command, f))
    const flag = fc.constantFrom(...flags)
    const token = fc.oneof(
      { weight: 4, arbitrary: flag },
      { weight: 3, arbitrary: value },
      { weight: 2, arbitrary: fc.tuple(flag, value).map(([f, v]) => `${f}=${v}`) },
      { weight: 1, arbitrary: fc.tuple(flag, fc.string({ minLength: 1, maxLength: 3 }).filter(noNul)).map(([f, s]) => f + s) }
    )
    return fc.array(token, { maxLength: 7 }).map(rest => [command, ...rest])
  }).filter(a => !a.some(t => watches(a[0]!, t)))
  const runs = Number(process.env.DSTACK_FUZZ_RUNS ?? 50)
  let tried = 0
  await fc.assert(fc.asyncProperty(argv, async a => {
    tried++
    check(a, await dstack(d, a, { cwd: work, timeoutMs: 60_000 }))
  }), { numRuns: runs, verbose: true })
  assert.ok(tried >= runs)
  // Unknown commands and none at all are usage errors too.
  for (const a of [[], ['nosuch'], ['--bogus', 'ps'], ['--url']]) {
    const r = await dstack(d, a, { timeoutMs: 60_000 })
    check(a, r)
    assert.is(r.code, 2, `dstack ${a.join(' ')}`)
  }
  assert.is(d.process.exitCode, null, 'the daemon is still up')
  assert.is(d.process.signalCode, null, 'the daemon is still up')
})

test.run()
