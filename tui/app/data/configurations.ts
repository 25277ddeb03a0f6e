// The Apply screen's finder: the run configurations under a directory (`.dstack.yml`,
// `*.dstack.yml`, and the .yaml spellings), nearest first, without descending into what is
// never a project's own (node_modules, .git, virtual environments).
import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'

const SKIP = new Set(['node_modules', '.git', '.venv', 'venv', '__pycache__', 'dist', '.cache'])

export function isConfigurationName (name: string): boolean {
  return /(^|\.)dstack\.ya?ml$/.test(name) && name !== 'profiles.yml'
}

/** Paths relative to `root`, breadth first (so the nearest come first), at most `max` of them. */
export async function findConfigurations (root: string, opts: { maxDepth?: number, max?: number } = {}): Promise<string[]> {
  const maxDepth = opts.maxDepth ?? 6
  const max = opts.max ?? 1000
  const found: string[] = []
  let level = [root]
  for (let depth = 0; depth <= maxDepth && level.length > 0 && found.length < max; depth++) {
    const next: string[] = []
    for (const dir of level) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.isDirectory()) { if (!SKIP.has(e.name)) next.push(join(dir, e.name)) } else if (e.isFile() && isConfigurationName(e.name)) found.push(relative(root, join(dir, e.name)))
      }
    }
    level = next
  }
  return found.slice(0, max)
}
