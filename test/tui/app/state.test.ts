// The app's pure parts: the filter, the `:` grammar and completion, column widths, scrolling,
// sorting, the log buffer, mouse input; and how `dstack` alone starts without a terminal.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseFilter, passes } from '../../../tui/app/state/filter.ts'
import { complete, parseCommand, pop, push } from '../../../tui/app/state/routes.ts'
import { columnWidths, nextSort, scrollTo, sortItems, type Column } from '../../../tui/app/state/table.ts'
import { LogBuffer, clean } from '../../../tui/app/state/logbuffer.ts'
import { translateMouse } from '../../../tui/app/terminal.ts'
import { pageRows } from '../../../tui/app/components/pager.tsx'
import type { Screen } from '../../../tui/app/screen.ts'

const screen = (name: string, aliases: string[] = []): Screen => ({ name, aliases, title: name, keys: [], Component: () => null as never })
const SCREENS = [screen('runs', ['ps']), screen('logs'), screen('fleets', ['hosts'])]

test('filter: a regex, case-insensitive unless it has a capital, /! inverts, a bad regex is a message', () => {
  const ok = (t: string) => { const f = parseFilter(t); if ('error' in f) throw new Error(f.error); return f.filter }
  assert.ok(passes(ok('GPU'), 'gpu=GPU:1'))
  assert.not.ok(passes(ok('GPU'), 'gpu=a100'))
  assert.ok(passes(ok('a100'), 'A100'))
  assert.ok(passes(ok('!done'), 'running'))
  assert.not.ok(passes(ok('!done'), 'done'))
  assert.is(ok('').pattern, null)
  const bad = parseFilter('a[')
  assert.ok('error' in bad && /^\/a\[: .*character class/i.test(bad.error), JSON.stringify(bad))
})

test(': commands: screens, aliases, arguments, quit, unknown names; completion', () => {
  assert.equal(parseCommand(SCREENS, 'logs my-run'), { route: { screen: 'logs', arg: 'my-run' } })
  assert.equal(parseCommand(SCREENS, 'ps'), { route: { screen: 'runs' } })
  assert.equal(parseCommand(SCREENS, 'q'), { quit: true })
  assert.ok('error' in parseCommand(SCREENS, 'nope'))
  assert.equal(complete(SCREENS, 'l'), { line: 'logs ', candidates: ['logs'] })
  assert.equal(complete(SCREENS, 'h'), { line: 'hosts ', candidates: ['hosts'] })
  assert.equal(complete(SCREENS, 'r').candidates, ['runs'])
  assert.equal(complete(SCREENS, '').candidates, ['fleets', 'hosts', 'logs', 'ps', 'quit', 'runs'])
  const s = push(push([], { screen: 'runs' }), { screen: 'logs', arg: 'a' })
  assert.is(s.length, 2)
  assert.is(push(s, { screen: 'runs' }).length, 1, 'going to a place on the stack goes back to it')
  assert.is(pop(pop(s)).length, 1, 'the first place stays')
})

test('columns: never wider than the box; growers give back first; fixed widths kept when they fit', () => {
  const cols: Column<string[]>[] = [{ title: 'NAME' }, { title: 'ERROR', grow: true }, { title: 'PRICE', width: 6 }]
  const cells = [['a-long-run-name', 'a very long error message that goes on and on', '$1']]
  for (const width of [10, 30, 60, 200]) {
    const w = columnWidths(cols, cells, width)
    assert.ok(w.reduce((a, b) => a + b, 0) + 4 <= Math.max(width, 3 * 1 + 4), `${width}: ${w}`)
  }
  const wide = columnWidths(cols, cells, 200)
  assert.is(wide[2], 6)
  assert.is(wide.reduce((a, b) => a + b, 0) + 4, 200, 'the grower takes what is left')
})

test('scroll and sort: the selection stays visible; sort keys toggle; stable order', () => {
  assert.is(scrollTo(0, 5, 10, 100), 0)
  assert.is(scrollTo(0, 15, 10, 100), 6)
  assert.is(scrollTo(50, 10, 10, 100), 10)
  assert.is(scrollTo(95, 99, 10, 100), 90)
  const cols: Column<[string, number]>[] = [{ title: 'NAME', sortKey: 'N' }, { title: 'N', sortKey: 'P', sortValue: r => r[1] }]
  assert.equal(nextSort(cols, null, 'N'), { column: 0, desc: false })
  assert.equal(nextSort(cols, { column: 0, desc: false }, 'N'), { column: 0, desc: true })
  assert.is(nextSort(cols, null, 'x'), null)
  const items: Array<[string, number]> = [['run-10', 1], ['run-9', 2], ['run-1', 2]]
  assert.equal(sortItems(items, cols, { column: 0, desc: false }, (r, c) => String(r[c])).map(r => r[0]), ['run-1', 'run-9', 'run-10'])
  assert.equal(sortItems(items, cols, { column: 1, desc: true }, (r, c) => String(r[c])).map(r => r[0]), ['run-9', 'run-1', 'run-10'])
})

test('log buffer: lines split across pieces, \\r\\n, what a \\r overwrote, colours, attempts', () => {
  const b = new LogBuffer()
  b.appendText('hel', 1, 0)
  assert.is(b.count, 1)
  b.appendText('lo\r\nwor', 2, 0)
  b.appendText('ld\r\n', 3, 0)
  assert.equal(b.lines.map(l => [l.text, l.at]), [['hello', 1], ['world', 2]])
  b.appendText('next\n', 4, 1)
  assert.equal(b.lines.map(l => l.text), ['hello', 'world', '── attempt 2 ──', 'next'])
  assert.is(clean('\x1b[1;31merror\x1b[0m 50%\r100%\r'), '100%')
  assert.is(clean('a\tb'), 'a    b')
  const g = b.generation
  b.clear()
  assert.is(b.count, 0)
  assert.is(b.generation, g + 1)
})

test('pager rows: cut or wrapped, never more than the box', () => {
  const lines = ['short', 'x'.repeat(25)]
  assert.equal(pageRows(i => lines[i]!, 2, 0, 10, 5, false).map(r => r.text), ['short', 'xxxxxxxxx…'])
  assert.equal(pageRows(i => lines[i]!, 2, 0, 10, 3, true).map(r => r.text), ['short', 'xxxxxxxxxx', 'xxxxxxxxxx'])
})

test('mouse: the wheel becomes arrows, other reports vanish, keys pass', () => {
  assert.is(translateMouse('\x1b[<64;10;5M'), '\x1b[A'.repeat(3))
  assert.is(translateMouse('\x1b[<65;10;5M'), '\x1b[B'.repeat(3))
  assert.is(translateMouse('\x1b[<0;10;5Mj\x1b[<0;10;5m'), 'j')
  assert.is(translateMouse('q'), 'q')
})

test('`dstack` alone without a terminal prints the help (exit 2), --readonly too', () => {
  for (const argv of [[], ['--readonly']]) {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../../tui/bin.js', import.meta.url)), ...argv], { encoding: 'utf8', input: '' })
    assert.is(r.status, 2, r.stderr)
    assert.match(r.stdout, /Usage: dstack/)
    assert.match(r.stdout, /full-screen app/)
  }
})

test.run()
