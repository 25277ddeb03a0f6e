// A container job from its run configuration: which runtime runs it, and each field of the
// ContainerSpec, one rule a row.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseRunConfiguration } from '../../../daemon/config/index.ts'
import { CONTAINER_SCRIPT, containerJob, containerWorkingDir, runtimeFor, type RuntimeMode } from '../../../daemon/agent/container.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'

const DIR = '/jobs/sub-1'

function jobOf (yaml: string, registryAuth: { username: string, password: string } | null = null) {
  const configuration = parseRunConfiguration(yaml)
  const job = jobSpecsFor(configuration, {})[0]!
  return containerJob({ configuration, job, image: configuration.image ?? 'local/default:1', dir: DIR, registryAuth })
}

test('which runtime: image, docker or nvcc need a container; the host\'s mode can force either', () => {
  const rows: Array<[string, RuntimeMode, 'docker' | 'process']> = [
    ['type: task\nimage: local/busybox\ncommands: ["true"]\n', 'auto', 'docker'],
    ['type: task\ndocker: true\ncommands: ["true"]\n', 'auto', 'docker'],
    ['type: task\nnvcc: true\ncommands: ["true"]\n', 'auto', 'docker'],
    ['type: task\ncommands: ["true"]\n', 'auto', 'process'],
    ['type: task\npython: "3.12"\ncommands: ["true"]\n', 'auto', 'process'],
    ['type: task\ncommands: ["true"]\n', 'docker', 'docker'],
    ['type: task\nimage: local/busybox\ncommands: ["true"]\n', 'process', 'process']
  ]
  for (const [yaml, mode, kind] of rows) assert.is(runtimeFor(mode, parseRunConfiguration(yaml)), kind, `${mode}: ${yaml}`)
})

test('commands run from the script file through the shell (sh with a custom image); entrypoint is shell-split and the commands follow it', () => {
  const a = jobOf('type: task\nimage: local/busybox\ncommands: [echo hi, exit 3]\n')
  assert.is(a.container.entrypoint, null)
  assert.equal(a.command, ['/bin/sh', CONTAINER_SCRIPT])
  const b = jobOf('type: task\nimage: local/busybox\nshell: bash\ncommands: [ls]\n')
  assert.equal(b.command, ['/bin/bash', CONTAINER_SCRIPT])
  const c = jobOf('type: task\nimage: local/busybox\nentrypoint: "/bin/sh -c \'echo \\"$0\\" $1\'"\ncommands: [a, b]\n')
  assert.equal(c.container.entrypoint, ['/bin/sh', '-c', 'echo "$0" $1'])
  assert.equal(c.command, ['a', 'b'])
  const d = jobOf('type: service\nimage: local/busybox\nport: 8000\ncommands: [httpd -f -p 8000]\n')
  assert.equal(d.command, ['/bin/sh', CONTAINER_SCRIPT])
})

test('user, privileged (forced by docker: true), shm_size in bytes, image and registry_auth', () => {
  const a = jobOf('type: task\nimage: local/busybox\nuser: "1000:1000"\nprivileged: true\nresources:\n  shm_size: 1GB\ncommands: [id]\n')
  assert.is(a.container.image, 'local/busybox')
  assert.is(a.container.user, '1000:1000')
  assert.is(a.container.privileged, true)
  assert.is(a.container.shmSizeBytes, 1024 ** 3)
  assert.is(a.container.docker, false)
  assert.is(a.container.registryAuth, null)
  const d = jobOf('type: task\ndocker: true\ncommands: [docker ps]\n')
  assert.is(d.container.privileged, true)
  assert.is(d.container.docker, true)
  assert.is(d.container.image, 'local/default:1')
  assert.is(d.container.shmSizeBytes, null)
  // Resolved and sealed elsewhere (agent/registry-auth.ts): passed through as given.
  assert.equal(jobOf('type: task\nimage: x\ncommands: [ls]\n', { username: 'me', password: 'p' }).container.registryAuth, { username: 'me', password: 'p' })
})

test('ports: container ports, and a service\'s port, published on a free host port (no host port is held)', () => {
  assert.equal(jobOf('type: task\nimage: x\nports: [8000, "9090:9000"]\ncommands: [ls]\n').container.ports, [{ container: 8000, host: 0 }, { container: 9000, host: 0 }])
  assert.equal(jobOf('type: service\nimage: x\nport: 8000\ncommands: [ls]\n').container.ports, [{ container: 8000, host: 0 }])
  assert.equal(jobOf('type: task\nimage: x\ncommands: [ls]\n').container.ports, [])
})

test('volumes: instance volumes in both forms, then the job\'s own files at dstack\'s paths (work/ is the runtime\'s); a network volume is refused by name', () => {
  const a = jobOf('type: task\nimage: x\nvolumes:\n  - /data/cache:/cache\n  - instance_path: /mnt/opt\n    path: /opt/x\n    optional: true\ncommands: [ls]\n')
  assert.equal(a.container.volumes, [
    { hostPath: '/data/cache', path: '/cache', optional: false },
    { hostPath: '/mnt/opt', path: '/opt/x', optional: true },
    { hostPath: '/jobs/sub-1/mpi-hostfile', path: '/dstack/mpi/hostfile' },
    { hostPath: '/jobs/sub-1/commands.sh', path: '/dstack/commands.sh', optional: true }
  ])
  assert.throws(() => jobOf('type: task\nimage: x\nvolumes: [my-vol:/data]\ncommands: [ls]\n'), /volumes\[0\]: network volume "my-vol" is not supported yet/)
})

test('working dir inside the container: /workflow unless absolute; ~ is /workflow', () => {
  const rows: Array<[string | null, string]> = [[null, '/workflow'], ['~', '/workflow'], ['~/src', '/workflow/src'], ['src/app', '/workflow/src/app'], ['/opt/app', '/opt/app'], ['/opt/../etc', '/etc']]
  for (const [wd, want] of rows) assert.is(containerWorkingDir(wd), want, String(wd))
  assert.is(jobOf('type: task\nimage: x\nworking_dir: /srv\ncommands: [pwd]\n').workingDir, '/srv')
})

test.run()
