#!/usr/bin/env node
// The self-contained dstackd that SSH fleets install on hosts (drivers/backends/ssh): one ESM
// file with every npm package in, the job supervisor beside it, and the two native addons it
// needs (classic-level for the Raft log, node-pty for the supervisor), packed as one tar.gz
// named by the hash of its content, so a host that has this version already is not sent it
// again. It runs from any directory with the system's node (20.6+), no node_modules above it.
//   lib/dstackd.mjs                         the daemon (daemon/main.ts)
//   lib/supervisor.js                       the job supervisor, started by path
//   lib/native/classic-level.node
//   lib/node_modules/node-pty/build/Release/pty.node   where the supervisor looks (require.resolve)
//   package.json                            the version (daemon/version.ts reads ../package.json)
// Usage: node scripts/bundle-dstackd.js   → prints the tarball's path (dist/bundle/dstackd-HASH.tgz)
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SUPERVISOR } from './bundle-options.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

// Native `require`s rewritten to literal paths next to the bundle (STACK.md: each addon its own
// name, or one loads in place of the other).
const natives = {
  name: 'dstackd-natives',
  setup (b) {
    b.onLoad({ filter: /classic-level[\\/]binding\.js$/ }, () => ({
      contents: "module.exports = require(require('node:path').join(__dirname, 'native', 'classic-level.node'))",
      loader: 'js'
    }))
  }
}

/** Builds the bundle into `out` (default dist/bundle) and returns its tarball's path and hash. */
export async function bundleDstackd (out = join(root, 'dist', 'bundle')) {
  const stage = join(out, 'stage')
  await rm(stage, { recursive: true, force: true })
  const lib = join(stage, 'lib')
  await mkdir(join(lib, 'native'), { recursive: true })
  const common = {
    absWorkingDir: root, bundle: true, platform: 'node', target: 'node20', format: 'esm', keepNames: true, minify: true,
    logLevel: 'error', external: ['*.node', 'cpu-features'],
    // CommonJS packages inside an ES module still call require/__dirname.
    banner: { js: "import { createRequire as __cr } from 'node:module'; import { dirname as __dn } from 'node:path'; import { fileURLToPath as __fu } from 'node:url'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);" },
    plugins: [natives]
  }
  await build({ ...common, entryPoints: ['daemon/main.ts'], outfile: join(lib, 'dstackd.mjs') })
  await copyFile(join(root, SUPERVISOR), join(lib, 'supervisor.js'))
  await copyFile(join(root, 'node_modules/classic-level/prebuilds/linux-x64/classic-level.node'), join(lib, 'native', 'classic-level.node'))
  const pty = join(lib, 'node_modules', 'node-pty')
  await mkdir(join(pty, 'build', 'Release'), { recursive: true })
  await copyFile(join(root, 'node_modules/node-pty/build/Release/pty.node'), join(pty, 'build', 'Release', 'pty.node'))
  // node-pty's own layout (main in lib/): the supervisor finds the addon from where main resolves.
  await mkdir(join(pty, 'lib'))
  await writeFile(join(pty, 'package.json'), '{"name":"node-pty","main":"lib/index.js"}\n')
  await writeFile(join(pty, 'lib', 'index.js'), '')
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
  await writeFile(join(stage, 'package.json'), JSON.stringify({ name: 'dstackd', version, type: 'module' }) + '\n')
  // The same content gives the same bytes: fixed times, owners and order, no gzip name or time.
  const tar = join(out, 'bundle.tar')
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', stage, '-cf', tar, '.'])
  execFileSync('gzip', ['-n', '-f', tar])
  const hash = createHash('sha256').update(await readFile(`${tar}.gz`)).digest('hex').slice(0, 16)
  for (const f of await readdir(out)) if (f.startsWith('dstackd-') && f.endsWith('.tgz')) await rm(join(out, f))
  const path = join(out, `dstackd-${hash}.tgz`)
  await rename(`${tar}.gz`, path)
  await rm(stage, { recursive: true, force: true })
  return { path, hash }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { path } = await bundleDstackd()
  console.log(path)
}
