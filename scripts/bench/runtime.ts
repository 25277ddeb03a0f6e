// Benchmark: the process runtime starting a trivial job (its detached runner, the pty, the
// command): what every job pays before it runs. Prints the median, min and max.
//   node --import tsx scripts/bench/runtime.ts [rounds]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { processRuntime } from '../../drivers/runtime/index.ts'

const rounds = Number(process.argv[2] ?? 10)
const root = mkdtempSync(join(tmpdir(), 'dstackd-bench-runtime-'))
const rt = processRuntime({ rootDir: root })
const times: number[] = []
try {
  for (let i = 0; i < rounds; i++) {
    const id = `bench-${i}`
    const t0 = performance.now()
    await rt.start({ id, dir: join(root, id), command: ['/bin/echo', 'hi'], env: { PATH: '/usr/bin:/bin' }, workingDir: join(root, 'work', id) })
    times.push(performance.now() - t0)
    await rt.wait(id)
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
times.sort((a, b) => a - b)
console.log(`process runtime start(echo hi), ${rounds} rounds: median ${times[Math.floor(rounds / 2)]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times[rounds - 1]!.toFixed(1)} ms`)
