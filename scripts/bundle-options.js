// What every bundle of the two commands shares (scripts/build.js, scripts/gpu/build.js): ESM
// split per entry point for Node 20, npm packages left external (native addons load from
// node_modules), and the job supervisor beside the bundle, since it is started as a process by path.
export const bundleOptions = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external'
}

/**
 * The client, `dist/dstack.cjs`: one CommonJS file with its npm packages in (yaml, …), which
 * scripts/entry.js compiles with V8's code cache. An external CommonJS package is resolved and
 * compiled module by module (yaml alone is ~80 files, ~70 ms of a `dstack apply`), and Node 20
 * keeps no compiled code for ES modules between runs; a command's own code still runs only when
 * the command does (esbuild wraps each lazily imported module). The client imports no native
 * addon: ssh2 (for ssh:// URLs, run only then) is bundled without its optional ones (the
 * sshcrypto binding, cpu-features), falling back to Node's crypto as it is built to: loading it
 * from node_modules cost ~90 ms of CPU per remote command, bundled ~30-40 ms less.
 */
export const clientBundleOptions = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifySyntax: true,
  minifyWhitespace: true,
  // `await import('node:…')` of a built-in becomes require(): the bundle runs as a vm.Script,
  // which has no dynamic import.
  supported: { 'dynamic-import': false },
  // Every character outside ASCII escaped (esbuild's default, stated): the loader reads the
  // bundle as latin1, which is cheaper than decoding UTF-8.
  charset: 'ascii',
  external: ['*.node', 'cpu-features'],
  define: { 'import.meta.url': '__dstackModuleUrl' },
  banner: { js: "const __dstackModuleUrl = require('node:url').pathToFileURL(__filename).href;" }
}

/** The job supervisor, relative to the repository root: copy it next to the bundles as supervisor.js. */
export const SUPERVISOR = 'drivers/runtime/process/supervisor.js'
