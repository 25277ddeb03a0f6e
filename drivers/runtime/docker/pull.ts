// Bringing a job's image onto this host: a pull through the engine, with the job's
// registry_auth, reporting progress in dstack's words (pull-progress.ts). Errors say which of
// the usual things went wrong (not found, credentials refused, registry unreachable) and never
// carry the password, whatever the engine put in its message.
import type Dockerode from 'dockerode'
import { formatPullProgress, progressThrottle, pullTracker, type PullEvent } from './pull-progress.ts'

export interface RegistryAuth { username: string, password: string }

export type PullErrorCode = 'image_not_found' | 'registry_auth_refused' | 'registry_unreachable' | 'pull_failed'

export class PullError extends Error {
  readonly code: PullErrorCode
  constructor (code: PullErrorCode, message: string) {
    super(message)
    this.name = 'PullError'
    this.code = code
  }
}

/** `busybox` → `busybox:latest`: without a tag the engine would pull every tag. */
export function withTag (image: string): string {
  if (image.includes('@')) return image
  const name = image.slice(image.lastIndexOf('/') + 1)
  return name.includes(':') ? image : `${image}:latest`
}

/** The registry an image comes from: its first part when that names a host, else Docker Hub. */
export function registryOf (image: string): string {
  const slash = image.indexOf('/')
  const first = slash < 0 ? '' : image.slice(0, slash)
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io'
}

/** The text with every form of the password the engine or a proxy could echo replaced by `***`. */
export function scrub (text: string, auth: RegistryAuth | null | undefined): string {
  if (!auth?.password) return text
  const forms = [
    auth.password,
    Buffer.from(auth.password).toString('base64'),
    Buffer.from(`${auth.username}:${auth.password}`).toString('base64'),
    encodeURIComponent(auth.password),
    JSON.stringify(auth.password).slice(1, -1)
  ]
  let out = text
  for (const f of [...new Set(forms)].sort((a, b) => b.length - a.length)) if (f !== '') out = out.split(f).join('***')
  return out
}

const UNREACHABLE = /dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|TLS handshake|server gave HTTP response to HTTPS|context deadline exceeded|no route to host|connection reset/i
const AUTH_REFUSED = /unauthorized|authentication required|incorrect username or password|invalid username\/password/i
const NOT_FOUND = /pull access denied|repository does not exist|manifest unknown|not found|name unknown/i

/** What went wrong, from the engine's message (and HTTP status), in words for `ps -v`. */
export function pullFailure (image: string, engineMessage: string, auth: RegistryAuth | null | undefined, statusCode?: number): PullError {
  const registry = registryOf(image)
  const detail = engineMessage.replace(/^\(HTTP code \d+\)[^-]*- /, '').trim()
  const say = (code: PullErrorCode, what: string) => new PullError(code, scrub(`could not pull image ${image}: ${what} (${detail})`, auth))
  if (UNREACHABLE.test(detail)) return say('registry_unreachable', `registry ${registry} unreachable from this host`)
  if (statusCode === 401 || AUTH_REFUSED.test(detail)) {
    return auth
      ? say('registry_auth_refused', `registry ${registry} refused the registry_auth credentials of user ${JSON.stringify(auth.username)}`)
      : say('registry_auth_refused', `registry ${registry} asks for credentials: set registry_auth`)
  }
  if (statusCode === 404 || NOT_FOUND.test(detail)) {
    return say('image_not_found', auth ? `no such image in registry ${registry}, or user ${JSON.stringify(auth.username)} may not read it` : `no such image in registry ${registry} (a private one needs registry_auth)`)
  }
  return say('pull_failed', 'the engine could not pull it')
}

const present = (docker: Dockerode, image: string) => docker.getImage(image).inspect().then(() => true, () => false)

/**
 * Makes `image` present on the engine. One already there is used as it is, `:latest` included
 * (dstack re-pulls `:latest`; hosts here may reach no registry). Otherwise pulls it with `auth`,
 * calling `progress` with dstack's progress text (`12/30/45MB`) at most twice a second. Rejects
 * with a PullError whose message never holds the password.
 */
export async function pullImage (docker: Dockerode, image: string, auth: RegistryAuth | null | undefined, progress?: (text: string) => void): Promise<void> {
  const ref = withTag(image)
  if (await present(docker, ref)) return
  const options = auth ? { authconfig: { username: auth.username, password: auth.password, serveraddress: registryOf(ref) } } : {}
  let stream: NodeJS.ReadableStream
  try {
    stream = await docker.pull(ref, options)
  } catch (err) {
    const e = err as { message?: string, statusCode?: number, json?: { message?: string } | null }
    // No answer at all: the engine is the trouble, not the image (the caller says so).
    if (e.statusCode === undefined) throw err
    throw pullFailure(image, e.json?.message ?? e.message ?? String(err), auth, e.statusCode)
  }
  const tracker = pullTracker()
  const throttle = progress ? progressThrottle(progress) : null
  const errors: string[] = []
  await new Promise<void>(resolve => {
    docker.modem.followProgress(stream, (err: Error | null) => {
      if (err) errors.push(err.message)
      resolve()
    }, (event: PullEvent) => {
      const message = event.errorDetail?.message ?? event.error
      if (message) { errors.push(message); return }
      tracker.update(event)
      const p = tracker.progress()
      if (p && throttle) throttle.push(formatPullProgress(p))
    })
  })
  if (errors.length > 0) throw pullFailure(image, errors.join('; '), auth)
  throttle?.flush()
  if (!(await present(docker, ref))) throw pullFailure(image, 'the pull ended without the image', auth)
}
