#!/usr/bin/env node
import { run } from '../scripts/entry.js'

await run('dstack', 'tui/main.ts')
