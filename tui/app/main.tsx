// Opens the full-screen app on this terminal (tui/main.ts loads this module only for the app, so
// ink and react cost nothing to one-shot commands): takes the terminal, renders the frame with
// the registered screens at the terminal's size, and resolves when the user quits.
import { Box, render, Text } from 'ink'
import { useEffect, useState, type ReactElement } from 'react'
import type { ApiClient } from '../../daemon/api/client.ts'
import { App } from './app.tsx'
import type { Route } from './screen.ts'
import { screens } from './screens/index.ts'
import { takeTerminal } from './terminal.ts'

export interface OpenOptions {
  readonly?: boolean
  start?: Route
}

export async function openApp (client: ApiClient, opts: OpenOptions = {}): Promise<number> {
  const stdout = process.stdout
  const terminal = takeTerminal(process.stdin, stdout)
  let quit!: () => void
  const done = new Promise<void>(resolve => { quit = resolve })
  let redraw = (): void => {}

  function Root (): ReactElement {
    const size = () => ({ width: stdout.columns || 80, height: stdout.rows || 24 })
    const [box, setBox] = useState(size)
    const [blank, setBlank] = useState(false)
    useEffect(() => {
      const onResize = () => setBox(size())
      stdout.on('resize', onResize)
      // After a suspended command the screen is empty but ink believes its last frame is there:
      // one empty frame, then the app again, makes it draw everything.
      redraw = () => { setBlank(true); setTimeout(() => setBlank(false), 50) }
      return () => { stdout.off('resize', onResize) }
    }, [])
    return (
      <Box flexDirection='column'>
        {blank && <Text> </Text>}
        <Box display={blank ? 'none' : 'flex'}>
          {/* One line short of the terminal: ink clears the whole screen at each frame that fills it. */}
          <App client={client} screens={screens} width={box.width} height={Math.max(1, box.height - 1)} readonly={opts.readonly}
            start={opts.start} quit={quit} suspend={argv => terminal.suspend(argv, () => redraw())} />
        </Box>
      </Box>
    )
  }

  const ink = render(<Root />, {
    stdin: terminal.input as unknown as NodeJS.ReadStream,
    stdout,
    exitOnCtrlC: false,
    patchConsole: true,
    maxFps: 30
  })
  try {
    await done
  } finally {
    ink.unmount()
    terminal.restore()
  }
  return 0
}
