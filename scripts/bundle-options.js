// What every bundle of the two commands shares (scripts/build.js, scripts/gpu/build.js): ESM
// split per entry point for Node 20, npm packages left external (native addons load from
// node_modules), and the job runner beside the bundle, since it is started as a process by path.
export const bundleOptions = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external'
}

/**
 * The client's bundle takes its npm packages in (yaml, …): Node resolves and compiles an
 * external CommonJS package module by module (yaml alone is ~80 files, ~70 ms of a `dstack
 * apply`), while one bundled chunk is read and compiled at once. The client imports no native
 * addon. The banner gives bundled CommonJS code the `require` it calls for Node built-ins.
 */
export const clientBundleOptions = {
  ...bundleOptions,
  packages: undefined,
  minifySyntax: true,
  minifyWhitespace: true,
  banner: { js: "import { createRequire as __dstackRequire } from 'node:module'; const require = __dstackRequire(import.meta.url);" }
}

/** The job runner, relative to the repository root: copy it next to the bundles as runner.js. */
export const RUNNER = 'drivers/runtime/process/runner.js'
