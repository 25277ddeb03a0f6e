// Benchmark: parse and normalize a 200-line configuration (YAML → validated, normalized
// object), the work `dstack apply` does before anything else. Prints the median and p95.
// Then the worst case a file within the size limit can ask for: 32000 unknown keys, every one
// an error with its line (linear in the input; it took 31 s when locating was quadratic).
//   node --import tsx scripts/bench/config.ts [iterations]
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { ConfigError, parseConfiguration } from '../../daemon/config/index.ts'

/** A service with groups, probes, rate limits and the profile parameters: 200 lines. */
export function twoHundredLines (): string {
  const lines = [
    'type: service',
    'name: llm-gateway',
    'port: 8000',
    'python: "3.12"',
    'model:',
    '  name: meta-llama/Meta-Llama-3.1-70B-Instruct',
    '  format: openai',
    '  prefix: /v1',
    'env:'
  ]
  for (let i = 0; i < 40; i++) lines.push(`  - VAR_${i}=value-${i}`)
  lines.push('  - HF_TOKEN')
  lines.push('groups:')
  for (let g = 0; g < 6; g++) {
    lines.push(`  - name: group-${g}`, '    replicas: 1..4', '    scaling:', '      metric: rps', `      target: ${g + 1}`,
      '    resources:', `      gpu: H100:80GB:${g % 4 + 1}`, '      cpu: x86:16..', '      memory: 128GB..1TB', '      disk: 500GB..',
      '    commands:', `      - vllm serve $MODEL --tensor-parallel-size ${g + 1}`, '      - echo ready')
  }
  lines.push('rate_limits:')
  for (let i = 0; i < 8; i++) lines.push(`  - prefix: /v1/route-${i}`, `    rps: ${i + 1}`, '    burst: 4')
  lines.push('probes:')
  for (let i = 0; i < 4; i++) {
    lines.push('  - type: http', `    url: /health/${i}`, '    method: get', '    headers:', '      - name: X-Probe', `        value: p${i}`,
      '    timeout: 20s', '    interval: 30s', '    ready_after: 2')
  }
  lines.push('volumes:', '  - name: [cache-eu, cache-us]', '    path: /root/.cache', '  - /mnt/models:/models')
  lines.push('retry:', '  on_events: [no-capacity, interruption]', '  duration: 2h', 'max_duration: 1d', 'stop_duration: 10m',
    'idle_duration: 30m', 'spot_policy: auto', 'max_price: 12.5', 'backends: [aws, gcp, runpod]', 'regions: [us-east-1, europe-west4]',
    'tags:', '  team: inference', '  cost-center: "42"', 'schedule:', '  cron: ["0 8 * * mon-fri", "0 20 * * *"]')
  while (lines.length < 200) lines.push(`# padding line ${lines.length}`)
  return lines.join('\n') + '\n'
}

const iterations = Number(process.argv[2] ?? 2000)
const text = twoHundredLines()
for (let i = 0; i < 200; i++) parseConfiguration(text) // warm up the JIT
const times: number[] = []
for (let i = 0; i < iterations; i++) {
  const t0 = performance.now()
  parseConfiguration(text, { file: 'bench.dstack.yml' })
  times.push(performance.now() - t0)
}
times.sort((a, b) => a - b)
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3)
console.log(`config: parse+normalize ${text.split('\n').length - 1} lines x${iterations}: median ${at(0.5)} ms, p95 ${at(0.95)} ms, first-run cold start excluded`)
const unknownKeys = ['type: task', 'commands: [ls]', ...Array.from({ length: 32000 }, (_, i) => `key${i}: ${i}`)].join('\n') + '\n'
// Wall time, and this process's CPU time, which a busy machine inflates less.
const keyTimes: Array<[number, number]> = []
let issues = 0
for (let i = 0; i < 5; i++) {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  try { parseConfiguration(unknownKeys, { file: 'keys.dstack.yml' }) } catch (err) { issues = (err as ConfigError).issues.length }
  const c = process.cpuUsage(c0)
  keyTimes.push([performance.now() - t0, (c.user + c.system) / 1000])
}
keyTimes.sort((a, b) => a[0] - b[0])
console.log(`config: 32000 unknown keys (${(unknownKeys.length / 1024).toFixed(0)} KB, ${issues} issues) x5: median ${keyTimes[2]![0].toFixed(0)} ms (CPU ${keyTimes[2]![1].toFixed(0)} ms), max ${keyTimes[4]![0].toFixed(0)} ms`)
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, node ${process.version}`)
