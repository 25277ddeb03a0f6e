#!/usr/bin/env node
// Builds a self-contained copy of dstackd for a host where `npm install` cannot run (a GPU
// machine with no network): .scratch/gpu/app/ with dist/ (dstack, dstackd, inventory bundles, the
// drivers/host test suite, and the job supervisor) and the npm packages they keep external, pruned to
// what runs on linux-x64 (node-pty's and classic-level's native addons included). Run it there with
//   node app/dist/dstackd.js run --data-dir /tmp/d   and   node app/dist/dstack.js ...
//   node app/dist/inventory.js [DISK_PATH]   and   node app/dist/host.test.js
import { build } from 'esbuild'
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleOptions, SUPERVISOR } from '../bundle-options.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const app = join(root, '.scratch', 'gpu', 'app')
await rm(app, { recursive: true, force: true })
const result = await build({
  absWorkingDir: root,
  entryPoints: { dstack: 'tui/main.ts', dstackd: 'daemon/main.ts', inventory: 'scripts/gpu/inventory.ts', 'host.test': 'test/drivers/host/inventory.test.ts' },
  outdir: join(app, 'dist'),
  ...bundleOptions,
  metafile: true,
  logLevel: 'warning'
})
await cp(join(root, SUPERVISOR), join(app, 'dist', 'supervisor.js'))
await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'dstackd-gpu-check', private: true, type: 'module' }) + '\n')

// The external packages, their dependencies transitively, and node-pty for the job supervisor.
const wanted = new Set(['node-pty'])
for (const o of Object.values(result.metafile.outputs)) {
  for (const i of o.imports) {
    if (i.external && !i.path.startsWith('node:')) wanted.add(i.path.startsWith('@') ? i.path.split('/').slice(0, 2).join('/') : i.path.split('/')[0])
  }
}
const nm = join(root, 'node_modules')
const seen = new Set()
const queue = [...wanted]
while (queue.length > 0) {
  const name = queue.shift()
  if (seen.has(name)) continue
  const dir = join(nm, name)
  if (!existsSync(join(dir, 'package.json'))) continue // optional, not installed
  seen.add(name)
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))
  queue.push(...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}))
}
// What is never loaded on linux-x64: other platforms' binaries, maps, type declarations, docs,
// and a native addon's C++ sources (only where a binding.gyp says the folder is C++: many
// packages run from src/).
const skipper = (native) => (rel) => {
  const parts = rel.split(sep)
  if (native && ['src', 'deps', 'third_party', 'test', 'scripts', 'typings'].includes(parts[0])) return true
  if (parts.some(p => p === 'obj.target' || p === '.deps')) return true
  const pre = parts.indexOf('prebuilds')
  if (pre >= 0 && parts[pre + 1] !== undefined && parts[pre + 1] !== 'linux-x64') return true
  return /\.(map|md|ts|cc|h|gyp|gypi)$/.test(rel) || /\.test\.js$/.test(rel)
}
for (const name of [...seen].sort()) {
  const from = join(nm, name)
  const skip = skipper(existsSync(join(from, 'binding.gyp')))
  await cp(from, join(app, 'node_modules', name), { recursive: true, filter: src => src === from || !skip(relative(from, src)) })
}
console.log(`built ${relative(root, app)}: ${[...seen].sort().join(', ')}`)
