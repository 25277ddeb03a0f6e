// Loads the full-screen app (tui/app/main.tsx) only when it is opened: ink, react and yoga are
// ES modules with top-level await, which the client's CommonJS bundle (dist/dstack.cjs) cannot
// hold, and every one-shot command would pay for them. So the app is imported at run time from
// its source: through tsx, which the bundle registers here (from the sources it already is),
// by import.cjs's import() (the bundle has none of its own).
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { openApp } from './main.tsx'

export async function loadApp (): Promise<typeof openApp> {
  const here = import.meta.url
  const root = fileURLToPath(new URL(here.endsWith('.cjs') ? '..' : '../..', here))
  const bundled = !/\.tsx?$/.test(here)
  // ink decides once, when loaded, whether it runs in CI (then it draws only the last frame).
  const ci = process.env.CI
  delete process.env.CI
  // Required by a path made at run time, so that esbuild leaves it out of the bundle.
  const importModule = createRequire(join(root, 'package.json'))(join(root, 'tui', 'app', 'import.cjs')) as (specifier: string) => Promise<unknown>
  try {
    if (bundled) {
      // With the project's tsconfig, wherever the user stands (it says how JSX compiles).
      const { register } = await importModule('tsx/esm/api') as { register (opts: { tsconfig: string }): void }
      register({ tsconfig: join(root, 'tsconfig.json') })
    }
    const mod = await importModule(pathToFileURL(join(root, 'tui', 'app', 'main.tsx')).href) as { openApp: typeof openApp }
    return mod.openApp
  } finally {
    if (ci !== undefined) process.env.CI = ci
  }
}
