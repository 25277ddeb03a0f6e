// Every screen of the app, in the order `:` completion and the help list them; the first is
// where the app opens. Adding a screen is one import and one entry here.
import type { Screen } from '../screen.ts'
import { logsScreen } from './logs.tsx'
import { runScreen } from './run.tsx'
import { runsScreen } from './runs.tsx'
import { yamlScreen } from './yaml.tsx'

export const screens: Screen[] = [
  runsScreen,
  logsScreen,
  runScreen,
  yamlScreen
]
