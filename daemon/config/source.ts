// Reading a configuration file, bounded: a file over MAX_CONFIGURATION_BYTES is refused with a
// clear error before it is read, so a huge or endless input costs neither memory nor time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { checkSize, MAX_CONFIGURATION_BYTES } from './document.ts'

/** The text of `file` (`-` is standard input); throws ConfigError when it is over the limit. */
export function readConfigurationFile (file: string): string {
  const name = file === '-' ? '<stdin>' : file
  const fd = file === '-' ? 0 : openSync(file, 'r')
  try {
    const stat = fstatSync(fd)
    if (stat.isFile()) checkSize(stat.size, name)
    // Read at most one byte past the limit: enough to know a stream is over it.
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, MAX_CONFIGURATION_BYTES + 1 - total))
      let n: number
      try {
        n = readSync(fd, chunk, 0, chunk.length, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue // a non-blocking pipe with nothing yet
        if ((err as NodeJS.ErrnoException).code === 'EOF') break
        throw err
      }
      if (n === 0) break
      chunks.push(chunk.subarray(0, n))
      total += n
      if (total > MAX_CONFIGURATION_BYTES) checkSize(total, name, true)
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    if (file !== '-') closeSync(fd)
  }
}
