// The full-screen app's frame: the header (project, node, user, leader), the breadcrumb, the
// active screen in the box left, and the bottom line (flash messages, the `:` and `/` prompts,
// key hints). It owns routing, `:` jumps with completion, `?` help, the `/` filter, `esc`
// back, `q` quit and read-only mode; screens (screens/index.ts) own everything inside their box.
import { Box, Text, type Key } from 'ink'
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react'
import type { ApiClient } from '../../daemon/api/client.ts'
import type { KeyHelp, Route, Screen, ScreenProps } from './screen.ts'
import { fit } from './components/table.tsx'
import { filterText, parseFilter } from './state/filter.ts'
import { breadcrumb, complete, findScreen, parseCommand, pop, push, type Place } from './state/routes.ts'
import { useCall } from './data/stream.ts'
import { useKeys } from './state/keys.ts'

export const GLOBAL_KEYS: KeyHelp[] = [
  { key: ':', help: 'jump to a screen (:runs, :logs RUN, … tab completes)' },
  { key: '/', help: 'filter the rows (a regex; /!re keeps those that do not match)' },
  { key: 'esc', help: 'clear the filter, else back' },
  { key: '?', help: 'this help' },
  { key: '↑↓ pgup pgdn g G', help: 'move (the mouse wheel scrolls)' },
  { key: 'q, ctrl+c', help: 'quit' }
]

export interface AppProps {
  client: ApiClient
  screens: readonly Screen[]
  width: number
  height: number
  readonly?: boolean
  /** Where the app opens (default: the first screen). */
  start?: Route
  suspend: (argv: string[]) => Promise<number>
  quit: () => void
}

type Mode = { kind: 'normal' } | { kind: 'help' } | { kind: 'command' | 'filter', text: string, candidates: string[] }
interface Flash { text: string, kind: 'info' | 'error' }

const FLASH_MS = 5000
const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false
} as Key

/** The header's line: which project, node, user and leader the app talks to. */
function useHeader (client: ApiClient, stackDepth: number): string {
  const info = useCall(client, 'server.info', undefined, stackDepth)
  if (info.data === undefined) return info.error ? `dstack · ${info.error}` : 'dstack · connecting…'
  const d = info.data
  // Hosts by name where the mesh knows it, else the end of their peer id.
  const nameOf = (id: string) => d.cluster.peers.find(p => p.id === id)?.name ?? `…${id.slice(-8)}`
  const leader = d.cluster.leader === null ? 'none' : d.cluster.leader === d.node ? 'this node' : nameOf(d.cluster.leader)
  return `dstack ${d.version} · project ${d.project} · node ${nameOf(d.node)} (${d.role}) · user ${d.user} · leader ${leader}`
}

export function App (props: AppProps): ReactElement {
  const { screens, width, height } = props
  const first: Route = props.start ?? { screen: screens[0]?.name ?? 'runs' }
  const [stack, setStack] = useState<Place[]>(() => push([], first))
  const [mode, setModeState] = useState<Mode>({ kind: 'normal' })
  // Keys can come faster than renders: each reads the mode the previous one left, not the render's.
  const modeRef = useRef<Mode>(mode)
  const setMode = (m: Mode): void => { modeRef.current = m; setModeState(m) }
  const [flash, setFlash] = useState<Flash | null>(null)
  const flashTimer = useRef<NodeJS.Timeout | undefined>(undefined)
  const header = useHeader(props.client, stack.length)

  const place = stack[stack.length - 1]!
  const screen = findScreen(screens, place.route.screen)

  const say = useCallback((text: string, kind: 'info' | 'error' = 'info') => {
    setFlash({ text, kind })
    clearTimeout(flashTimer.current)
    flashTimer.current = setTimeout(() => setFlash(null), FLASH_MS)
  }, [])
  useEffect(() => () => clearTimeout(flashTimer.current), [])

  const go = useCallback((to: Route) => {
    if (findScreen(screens, to.screen) === undefined) { say(`no screen ${to.screen}`, 'error'); return }
    setStack(s => push(s, to))
  }, [screens, say])

  const submit = (kind: 'command' | 'filter', text: string): void => {
    if (kind === 'filter') {
      const parsed = parseFilter(text)
      if ('error' in parsed) { say(parsed.error, 'error'); return }
      setStack(s => [...s.slice(0, -1), { ...s[s.length - 1]!, filter: parsed.filter }])
      return
    }
    const cmd = parseCommand(screens, text)
    if ('quit' in cmd) props.quit()
    else if ('error' in cmd) say(cmd.error, 'error')
    else go(cmd.route)
  }

  /** One key; returns the mode after it (typed text is handled a character at a time). */
  const step = (m: Mode, input: string, key: Key): Mode => {
    if (m.kind === 'help') return { kind: 'normal' }
    if (m.kind === 'command' || m.kind === 'filter') {
      if (key.escape) return { kind: 'normal' }
      if (key.return) { submit(m.kind, m.text); return { kind: 'normal' } }
      if (key.backspace || key.delete) return m.text === '' ? { kind: 'normal' } : { ...m, text: m.text.slice(0, -1), candidates: [] }
      if (key.tab && m.kind === 'command') {
        const c = complete(screens, m.text)
        return { ...m, text: c.line, candidates: c.candidates }
      }
      if (!key.ctrl && !key.meta && input && !/[\x00-\x1f]/.test(input)) return { ...m, text: m.text + input, candidates: [] }
      return m
    }
    if (input === ':') return { kind: 'command', text: '', candidates: [] }
    if (input === '/') return { kind: 'filter', text: place.filter.pattern ? filterText(place.filter).slice(1) : '', candidates: [] }
    if (input === '?') return { kind: 'help' }
    if (input === 'q') props.quit()
    else if (key.escape) {
      if (place.filter.pattern !== null) setStack(s => [...s.slice(0, -1), { ...place, filter: { pattern: null, invert: false } }])
      else setStack(pop)
    }
    return m
  }

  useKeys((input, key) => {
    if (key.ctrl && input === 'c') { props.quit(); return }
    // Keys typed faster than they are read (a paste, tmux send-keys) come as one string.
    const typed = !key.ctrl && !key.meta && !key.escape && (input.length > 1 || input === '\x7f') && !input.includes('\x1b')
    const before = modeRef.current
    let m = before
    if (typed) for (const ch of input) m = step(m, /[\r\x7f\b]/.test(ch) ? '' : ch, { ...NO_KEY, return: ch === '\r', backspace: ch === '\x7f' || ch === '\b' })
    else m = step(m, input, key)
    if (m !== before) setMode(m)
  })

  // Header, breadcrumb, bottom line: the screen has the rest.
  const box = { width, height: Math.max(0, height - 3) }
  const active = mode.kind === 'normal'
  const crumb = breadcrumb(screens, stack) + (place.filter.pattern ? `  ${filterText(place.filter)}` : '') + (props.readonly ? '  [read-only]' : '')

  let bottom: ReactElement
  if (mode.kind === 'command' || mode.kind === 'filter') {
    const prefix = mode.kind === 'command' ? ':' : '/'
    const hint = mode.candidates.length > 1 ? `   ${mode.candidates.join(' ')}` : ''
    bottom = <Text wrap='truncate'>{fit(`${prefix}${mode.text}█${hint}`, width)}</Text>
  } else if (flash !== null) {
    bottom = <Text color={flash.kind === 'error' ? 'red' : 'green'} wrap='truncate'>{fit(flash.text, width)}</Text>
  } else {
    bottom = <Text dimColor wrap='truncate'>{fit('? help  : jump  / filter  esc back  q quit', width)}</Text>
  }

  const screenProps: ScreenProps = {
    client: props.client,
    width: box.width,
    height: box.height,
    filter: place.filter,
    active,
    readonly: props.readonly === true,
    arg: place.route.arg,
    go,
    flash: say,
    suspend: props.suspend
  }

  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      <Text color='cyan' wrap='truncate'>{fit(header, width)}</Text>
      <Text bold wrap='truncate'>{fit(crumb, width)}</Text>
      <Box width={box.width} height={box.height} overflow='hidden' flexDirection='column'>
        {mode.kind === 'help'
          ? <Help screen={screen} width={box.width} height={box.height} />
          : screen === undefined
            ? <Text color='red'>no screen {place.route.screen}</Text>
            : <screen.Component key={`${place.route.screen}:${place.route.arg ?? ''}`} {...screenProps} />}
      </Box>
      {bottom}
    </Box>
  )
}

function Help ({ screen, width, height }: { screen: Screen | undefined, width: number, height: number }): ReactElement {
  const lines = useMemo(() => {
    const keyed = (k: KeyHelp) => `  ${k.key.padEnd(18)} ${k.help}`
    return [
      ...(screen ? [`${screen.title}`, ...screen.keys.map(keyed), ''] : []),
      'Everywhere', ...GLOBAL_KEYS.map(keyed), '', '(any key closes this)'
    ]
  }, [screen])
  return (
    <Box flexDirection='column' width={width} height={height} overflow='hidden'>
      {lines.slice(0, height).map((l, i) => <Text key={i} bold={!l.startsWith(' ')} wrap='truncate'>{fit(l, width)}</Text>)}
    </Box>
  )
}
