// The contract between the full-screen app's frame (tui/app/app.tsx: routing, `:` jumps, `?`,
// `/` filter, breadcrumb, read-only mode) and its screens (tui/app/screens/*.tsx). A screen
// draws only inside the box it is given and handles only its own keys while it is active.
import type { ReactElement } from 'react'
import type { ApiClient } from '../../daemon/api/client.ts'

/** Where the app can go: a screen by name plus what it shows (`{screen: 'logs', arg: 'my-run'}`). */
export interface Route { screen: string, arg?: string }

export interface Filter {
  /** The compiled `/` filter; null when none. */
  pattern: RegExp | null
  /** `/!` given: keep the rows that do NOT match. */
  invert: boolean
}

export interface ScreenProps {
  client: ApiClient
  /** The box the screen may draw in (the frame takes the rest): a frame never exceeds it. */
  width: number
  height: number
  filter: Filter
  /** Keys go to this screen only while it is active (it is on top and no prompt is open). */
  active: boolean
  /** `--readonly`: stop, abort, shell and apply are disabled. */
  readonly: boolean
  /** The route's argument, if any (`:logs RUN` → 'RUN'). */
  arg?: string
  /** Pushes a route (esc comes back here through the breadcrumb). */
  go (to: Route): void
  /** A one-line message in the frame's status bar (errors, "stopping my-run…"). */
  flash (text: string, kind?: 'info' | 'error'): void
  /** Runs `argv` in the real terminal with the app suspended (the shell key), then resumes. */
  suspend (argv: string[]): Promise<number>
  /**
   * Makes the app's client one for project `name` (the same daemon and token): the frame opens
   * the new session, closes the old one and renders every screen with it. Rejects, saying why,
   * when the daemon refuses it. Absent where the frame cannot switch.
   */
  switchProject? (name: string): Promise<void>
  /**
   * While on, the frame passes every key to this screen (a text field is open: `q`, `:`, `/`,
   * `?` and esc are the field's); the screen turns it off when the field closes.
   */
  capture? (on: boolean): void
}

export interface KeyHelp { key: string, help: string }

export interface Screen {
  /** Its `:` name: `runs`, `logs`, `fleets`, `offers`, `events`, `projects`, `apply`, … */
  name: string
  /** Other `:` names that jump here (`:ps` → runs). */
  aliases?: string[]
  /** The breadcrumb's text. */
  title: string
  /** What `?` lists for this screen. */
  keys: KeyHelp[]
  Component (props: ScreenProps): ReactElement
}
