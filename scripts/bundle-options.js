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

/** The job runner, relative to the repository root: copy it next to the bundles as runner.js. */
export const RUNNER = 'drivers/runtime/process/runner.js'
