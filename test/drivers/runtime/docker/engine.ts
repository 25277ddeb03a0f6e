// What the docker runtime's suites share: whether a real engine answers (else they skip,
// loudly), job specs in a temporary root, and cleanup of exactly the containers they made.
import fs from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import Dockerode from 'dockerode'
import { isJobExit, type JobExit, type JobInfo, type JobSpec, type Runtime } from '../../../../drivers/runtime/index.ts'
import { DIR_LABEL, JOB_LABEL } from '../../../../drivers/runtime/docker/index.ts'

export const SOCKET = '/var/run/docker.sock'
export const BUSYBOX = 'local/busybox:latest'
export const DEBIAN = 'local/debian:bookworm'
export const docker = new Dockerode({ socketPath: SOCKET })

/** Why the container suites cannot run here, or null. */
export async function engineMissing (): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not running as root'
  try {
    await within(docker.ping(), 5000, "a ping")
  } catch (e) {
    return `no Docker engine answers at ${SOCKET} (${(e as Error).message}); scripts/ci/docker.sh starts one`
  }
  for (const image of [BUSYBOX, DEBIAN]) {
    try { await docker.getImage(image).inspect() } catch { return `the local image ${image} is missing; scripts/ci/docker.sh builds it` }
  }
  return null
}

export function jobRoot (): { root: string, spec: (command: string[], extra?: Partial<JobSpec>, image?: string) => JobSpec } {
  const root = fs.mkdtempSync(join(os.tmpdir(), 'dstackd-docker-test-'))
  const tag = root.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, 'x')
  let n = 0
  return {
    root,
    spec (command, extra = {}, image = BUSYBOX) {
      const id = `dj-${tag}-${++n}`
      const dir = join(root, id)
      return { id, dir, command, env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, workingDir: join(dir, 'work'), container: { image }, ...extra }
    }
  }
}

/** Removes the containers of jobs under root (and only those), and root itself. */
export async function cleanup (root: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [JOB_LABEL] } }).catch(() => [])
  for (const c of list) {
    if (c.Labels?.[DIR_LABEL]?.startsWith(root + '/')) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)
  }
  fs.rmSync(root, { recursive: true, force: true })
}

/** Rejects after ms: only to keep a broken test from hanging, never a measurement. */
export function within<T> (p: Promise<T>, ms = 60_000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms) })
  ])
}

/** Starts the job, which must start. */
export async function begin (rt: Runtime, s: JobSpec): Promise<JobInfo> {
  const got = await within(rt.start(s), 60_000, `starting ${s.id}`)
  if (isJobExit(got)) throw new Error(`job ${s.id} did not start: ${got.message}`)
  return got
}

export async function finished (rt: Runtime, id: string): Promise<JobExit> {
  return await within(rt.wait(id), 60_000, `job ${id} to finish`)
}

export async function output (rt: Runtime, id: string): Promise<string> {
  let s = ''
  for await (const c of rt.logs(id)) s += c.data.toString()
  return s
}

/** Follows the job's output until text shows up; returns what was read. */
export async function outputUntil (rt: Runtime, id: string, text: string): Promise<string> {
  const ac = new AbortController()
  let s = ''
  await within((async () => {
    for await (const c of rt.logs(id, { follow: true, signal: ac.signal })) {
      s += c.data.toString()
      if (s.includes(text)) { ac.abort(); return }
    }
    throw new Error(`job ${id} ended without printing ${JSON.stringify(text)}: ${JSON.stringify(s.slice(-500))}`)
  })(), 60_000, `waiting for ${JSON.stringify(text)}`)
  return s
}

export const lines = (s: string) => s.split(/\r?\n/).filter(l => l !== '')
