// `docker: true` (SPEC §1.2, §3.7): an engine runs inside the job's container. The job gets
// privileges (`docker: true` forces `privileged`; where the engine refuses --privileged the
// runtime's capability fallback applies), its own volume for the inner engine's data (overlay2
// cannot sit on the container's own overlay root, it can on a volume), the host's cgroup
// namespace on cgroup v1 (the inner engine then nests its containers under the job's cgroup, so
// the job's limits hold for them), and `start-dockerd` in front of its command.
//
// start-dockerd is written into the job's directory and mounted read-only over
// /usr/local/bin/start-dockerd, so any image that carries the engine's binaries works (ours:
// local/dind; dstack's dstackai/dind has its own, which this one shadows).
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import type { ContainerSpec } from '../types.ts'

/** Where start-dockerd is inside the container. */
export const START_DOCKERD = '/usr/local/bin/start-dockerd'

/**
 * start-dockerd [COMMAND [ARG...]]: starts dockerd in the background (its log in
 * /var/log/dockerd.log), waits until it answers on /var/run/docker.sock, then runs COMMAND in its
 * place; without COMMAND it returns and the engine keeps running (so `start-dockerd && …` works
 * as dstack's own does). It fails, with the engine's last log lines, when dockerd exits or does
 * not answer within 60 s.
 * - The capability fallback mounts the cgroup hierarchies read-only (only --privileged makes
 *   them writable): they are remounted read-write, as the inner engine must create cgroups.
 * - An image without iptables (local/dind) gets an engine with --iptables=false: inner
 *   containers have their bridge network, without NAT to the outside.
 */
export const START_DOCKERD_SCRIPT = `#!/bin/sh
# start-dockerd (dstackd, docker: true): see drivers/runtime/docker/dind.ts
log=/var/log/dockerd.log
answers () { docker version >/dev/null 2>&1; }
if ! answers; then
  command -v dockerd >/dev/null 2>&1 || { echo "start-dockerd: this image has no dockerd (docker: true needs an image with the engine in it)" >&2; exit 1; }
  for d in /sys/fs/cgroup /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null; done
  flags=""
  command -v iptables >/dev/null 2>&1 || flags="--iptables=false --ip6tables=false"
  mkdir -p /var/log
  dockerd $flags >"$log" 2>&1 &
  pid=$!
  i=0
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "start-dockerd: dockerd exited; the end of $log:" >&2; tail -n 20 "$log" >&2; exit 1; fi
    i=$((i + 1))
    if [ "$i" -gt 600 ]; then echo "start-dockerd: dockerd did not answer within 60 s; the end of $log:" >&2; tail -n 20 "$log" >&2; exit 1; fi
    sleep 0.1
  done
fi
[ "$#" -eq 0 ] || exec "$@"
`

export interface DockerInDocker {
  /** CgroupnsMode is the engine's (API 1.40+), not in @types/dockerode. */
  hostConfig: Pick<Docker.HostConfig, 'Binds' | 'Mounts'> & { CgroupnsMode?: 'host' | 'private' }
  /** Goes in front of the container's entrypoint (its argv: entrypoint, then command). */
  entrypointPrefix: string[]
}

/** The engine inside needs privileges: `docker: true` forces `privileged` (SPEC §1.2). */
export function wantsPrivileges (container: ContainerSpec): boolean {
  return container.privileged === true || container.docker === true
}

/** Where start-dockerd is written on the host: the job's directory. */
export function startDockerdPath (jobDir: string): string {
  return join(jobDir, 'start-dockerd')
}

/** Writes start-dockerd into the job's directory (before its container is created). */
export async function writeStartDockerd (jobDir: string): Promise<void> {
  await mkdir(jobDir, { recursive: true })
  await writeFile(startDockerdPath(jobDir), START_DOCKERD_SCRIPT)
  await chmod(startDockerdPath(jobDir), 0o755)
}

/**
 * What `docker: true` adds to the container of the job in `jobDir` (start-dockerd written there
 * by writeStartDockerd; the container removed with its volumes: `remove({ v: true })`). null
 * when the job did not ask for an engine.
 */
export function dockerInDocker (container: ContainerSpec, jobDir: string, cgroupV1: boolean): DockerInDocker | null {
  if (container.docker !== true) return null
  return {
    hostConfig: {
      Binds: [`${startDockerdPath(jobDir)}:${START_DOCKERD}:ro`],
      Mounts: [{ Type: 'volume', Source: '', Target: '/var/lib/docker' }],
      // cgroup v2: the default private namespace is what an inner engine wants.
      ...(cgroupV1 ? { CgroupnsMode: 'host' as const } : {})
    },
    entrypointPrefix: [START_DOCKERD]
  }
}
