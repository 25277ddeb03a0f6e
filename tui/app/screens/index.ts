// Every screen of the app, in the order `:` completion and the help list them; the first is
// where the app opens. Adding a screen is one import and one entry here.
import type { Screen } from '../screen.ts'
import { applyScreen } from './apply.tsx'
import { eventsScreen } from './events.tsx'
import { fleetsScreen } from './fleets.tsx'
import { logsScreen } from './logs.tsx'
import { offersScreen } from './offers.tsx'
import { projectsScreen } from './projects.tsx'
import { runScreen } from './run.tsx'
import { runsScreen } from './runs.tsx'
import { yamlScreen } from './yaml.tsx'

export const screens: Screen[] = [
  runsScreen,
  logsScreen,
  runScreen,
  yamlScreen,
  fleetsScreen,
  offersScreen,
  eventsScreen,
  projectsScreen,
  applyScreen
]
