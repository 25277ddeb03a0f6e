// `dstack artifacts list|download RUN`: the folders a workflow saved (SPEC §7).
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { connect, type GlobalOptions } from '../connect.ts'
import { bytes, table } from '../format.ts'
import { parseFlags, UsageError } from '../flags.ts'

export const HELP = `Usage: dstack artifacts list RUN [--json]
       dstack artifacts download RUN [-o DIR]

list       the files a run of the older workflow format saved as artifacts
download   copies them into DIR (default: the current directory), keeping their paths

Options:
  -o, --output DIR   where to download (default .)
      --json         (list) print JSON
  -h, --help         show this help`

export async function artifacts (argv: string[], g: GlobalOptions): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, { output: { type: 'string', short: 'o' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, { positionals: true })
  const [action, name] = positionals
  if (v.help || !action) { console.log(HELP); return v.help ? 0 : 2 }
  if (action !== 'list' && action !== 'download') throw new UsageError(`unknown action ${JSON.stringify(action)}: use list or download`)
  if (!name) throw new UsageError(`which run? Usage: dstack artifacts ${action} RUN`)
  const client = await connect(g)
  try {
    const { files } = await client.call('artifacts.list', { run: name })
    if (action === 'list') {
      console.log(v.json ? JSON.stringify({ run: name, files }, null, 2) : files.length === 0 ? `Run ${name} has no artifacts` : table(['PATH', 'SIZE'], files.map(f => [f.path, bytes(f.size)])))
      return 0
    }
    const root = resolve(v.output ?? '.')
    for (const f of files) {
      const target = join(root, f.path)
      if (!target.startsWith(root + sep)) throw new Error(`refusing to write ${f.path} outside ${root}`)
      await mkdir(dirname(target), { recursive: true })
      const out = createWriteStream(target)
      for await (const chunk of client.stream('artifacts.read', { run: name, path: f.path })) {
        if (!out.write(Buffer.from(chunk.data, 'base64'))) await new Promise<void>(r => out.once('drain', () => r()))
      }
      await new Promise<void>((ok, fail) => out.end((err?: Error | null) => err ? fail(err) : ok()))
      console.log(`${f.path} (${bytes(f.size)})`)
    }
    console.log(`Downloaded ${files.length} file${files.length === 1 ? '' : 's'} into ${root}`)
    return 0
  } finally {
    await client.close()
  }
}
