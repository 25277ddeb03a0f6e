// Pulling a job's image. A minimal pull for now; the docker-images work replaces its body with
// progress in dstack's words (SPEC §3.3).
import type Dockerode from 'dockerode'

export async function pullImage (docker: Dockerode, image: string, auth: { username: string, password: string } | null | undefined, progress?: (text: string) => void): Promise<void> {
  void progress
  const stream = await docker.pull(image, auth ? { authconfig: { username: auth.username, password: auth.password } } : {}) as NodeJS.ReadableStream
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }>) => {
      const failed = err ?? (events ?? []).find(e => e.error)?.error
      if (failed) reject(failed instanceof Error ? failed : new Error(failed)); else resolve()
    })
  })
}
