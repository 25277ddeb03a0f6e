#!/usr/bin/env node
import { run } from '../scripts/entry.js'

await run('dstackd', 'daemon/main.ts')
