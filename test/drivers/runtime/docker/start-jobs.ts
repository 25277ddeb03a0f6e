// A stand-in for dstackd in the recover tests: starts the jobs given (argv: root, JSON specs),
// says `started N`, then idles until the test kills it with SIGKILL.
import { dockerRuntime, isJobExit, type JobSpec } from '../../../../drivers/runtime/index.ts'

const [root, specs] = process.argv.slice(2)
const rt = dockerRuntime({ rootDir: root })
let n = 0
for (const s of JSON.parse(specs!) as JobSpec[]) {
  const got = await rt.start(s)
  if (isJobExit(got)) { console.error(`job ${s.id} did not start: ${got.message}`); process.exit(1) }
  n++
}
console.log(`started ${n}`)
setInterval(() => {}, 1 << 30)
