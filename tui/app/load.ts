// Loads the full-screen app (tui/app/main.tsx) only when it is opened: ink, react and yoga are
// ES modules with top-level await, which the client's CommonJS bundle (dist/dstack.cjs) cannot
// hold, and every one-shot command would pay for them. So the app is imported at run time from
// its source: through tsx, which the bundle registers here (from the sources it already is).
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { openApp } from './main.tsx'

// A real import() that esbuild leaves alone (the bundle would turn `import()` into require()).
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>

export async function loadApp (): Promise<typeof openApp> {
  const here = import.meta.url
  const root = fileURLToPath(new URL(here.endsWith('.cjs') ? '..' : '../..', here))
  const bundled = !/\.tsx?$/.test(here)
  // ink decides once, when loaded, whether it runs in CI (then it draws only the last frame).
  const ci = process.env.CI
  delete process.env.CI
  const warn = process.emitWarning
  // The bundle's import() goes through vm's main-context loader, which Node 20 calls experimental.
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
    if (String(typeof w === 'string' ? w : w.message).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return
    ;(warn as (...a: unknown[]) => void).call(process, w, ...rest)
  }) as typeof process.emitWarning
  try {
    if (bundled) {
      const tsx = createRequire(join(root, 'package.json')).resolve('tsx/esm/api')
      const { register } = await importModule(pathToFileURL(tsx).href) as { register (): void }
      register()
    }
    const mod = await importModule(pathToFileURL(join(root, 'tui', 'app', 'main.tsx')).href) as { openApp: typeof openApp }
    return mod.openApp
  } finally {
    process.emitWarning = warn
    if (ci !== undefined) process.env.CI = ci
  }
}
