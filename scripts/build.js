#!/usr/bin/env node
// Bundles the two commands into dist/ (ESM, split per subcommand) so they start without
// compiling TypeScript: `dstack ps` loads only what ps needs. The daemon's npm packages stay
// external (native addons load from node_modules); the client's are bundled in (see
// clientBundleOptions). The bins use dist/ while it is newer than every source file, and the
// TypeScript sources through tsx otherwise, so a stale bundle never runs.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleOptions, clientBundleOptions, SUPERVISOR } from './bundle-options.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist')
await rm(out, { recursive: true, force: true })
const common = { absWorkingDir: root, outdir: out, sourcemap: 'linked', logLevel: 'warning' }
const [, client] = await Promise.all([
  build({ ...common, ...bundleOptions, entryPoints: { dstackd: 'daemon/main.ts' } }),
  build({ ...common, ...clientBundleOptions, entryPoints: { dstack: 'tui/main.ts' }, outExtension: { '.js': '.cjs' }, metafile: true })
])
await mkdir(out, { recursive: true })
// The client's own source files: whether its bundle is fresh is a stat of each (scripts/entry.cjs),
// not a walk of every source folder at every command.
await writeFile(join(out, 'dstack.inputs'), JSON.stringify(Object.keys(client.metafile.inputs).filter(p => !p.startsWith('node_modules/'))) + '\n')
// The job supervisor is started as its own process by path (next to the code that starts it).
await copyFile(join(root, SUPERVISOR), join(out, 'supervisor.js'))
await writeFile(join(out, 'BUILT'), new Date().toISOString() + '\n')
// The client's code cache (scripts/entry.js), made now so that the first command is fast too
// and an installation nobody may write to has one: validating a configuration compiles the
// configuration language and yaml, most of what any command loads.
spawnSync(process.execPath, [join(root, 'tui', 'bin.js'), 'validate', join(root, 'examples', 'hello', '.dstack.yml')], { stdio: 'ignore' })
