// registry_auth (SPEC §1.2) from the client to the host that pulls, never in clear where
// someone could read it: the client resolves `${{ env.X }}` from the run's env; the daemon
// keeps in the run's stored configuration (the Raft log, `dstack run get`) a password only as
// references (`${{ env.REG_PASSWORD }}`), a literal one as `***`; the values themselves travel
// in the job spec sealed (AES-256-GCM) with a key derived from the mesh's swarm key, which
// every member holds and nothing else in the log carries. The agent opens them for the pull.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import type { RunConfiguration } from '../config/index.ts'
import { interpolate, templateReferences } from '../config/interpolate.ts'

export interface RegistryAuth { username: string, password: string }

export interface Sealer {
  /** The credentials as an opaque string (`v1:…`, base64): a fresh nonce each time. */
  seal (auth: RegistryAuth): string
  /** Throws (without the contents) when the string was not sealed with this mesh's key. */
  open (sealed: string): RegistryAuth
}

const VERSION = 'v1:'

/** A sealer keyed by the mesh's swarm key (HKDF-SHA256, its own label: the key is never used as is). */
export function sealerOf (swarmKey: Uint8Array): Sealer {
  const key = Buffer.from(hkdfSync('sha256', swarmKey, 'dstackd', 'registry_auth v1', 32))
  return {
    seal (auth) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const body = Buffer.concat([cipher.update(JSON.stringify({ u: auth.username, p: auth.password }), 'utf8'), cipher.final()])
      return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
    },
    open (sealed) {
      const fail = (): never => { throw new Error('the registry_auth of this job cannot be read here: it was sealed with another mesh\'s key, or damaged') }
      if (!sealed.startsWith(VERSION)) fail()
      const raw = Buffer.from(sealed.slice(VERSION.length), 'base64')
      if (raw.length < 29) fail()
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
        decipher.setAuthTag(raw.subarray(12, 28))
        const { u, p } = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as { u: unknown, p: unknown }
        if (typeof u !== 'string' || typeof p !== 'string') return fail()
        return { username: u, password: p }
      } catch {
        return fail()
      }
    }
  }
}

const onlyReferences = (s: string) => s.trim() !== '' && s.replace(/\$\{\{[^}]*\}\}/g, '').trim() === ''

/**
 * The configuration as the daemon keeps and shows it: a registry_auth password that is not
 * made only of references becomes `***` (the same for the same input, so re-applying an
 * unchanged file still finds nothing changed).
 */
export function redactRegistryAuth<C extends RunConfiguration> (c: C): C {
  const auth = c.registry_auth
  if (!auth || onlyReferences(auth.password)) return c
  return { ...c, registry_auth: { ...auth, password: '***' } }
}

/**
 * The client's part: `${{ env.X }}` in registry_auth resolved from the run's env (SPEC §1.7).
 * `secrets.x` is left as written for the daemon, which refuses it for now.
 */
export function resolveRegistryAuth (c: RunConfiguration, env: Record<string, string>): RegistryAuth | null {
  const auth = c.registry_auth
  if (!auth) return null
  const fill = (field: 'username' | 'password') => {
    try {
      return interpolate(auth[field], ref => ref.ns === 'env' ? env[ref.name] : undefined, { keepUnknown: true })
    } catch (err) {
      throw new Error(`registry_auth.${field}: ${(err as Error).message}`)
    }
  }
  return { username: fill('username'), password: fill('password') }
}

/**
 * The daemon's part: the credentials for the run's jobs, from what the client resolved
 * (`given`) or, for an API client that sent none, the configuration's literal values. Throws
 * a message naming the field when a reference is left that the daemon cannot fill.
 */
export function registryAuthFor (c: RunConfiguration, given: RegistryAuth | null | undefined): RegistryAuth | null {
  if (!c.registry_auth) return null
  const auth = given ?? c.registry_auth
  const out: RegistryAuth = { username: '', password: '' }
  for (const field of ['username', 'password'] as const) {
    const refs = templateReferences(auth[field])
    const secret = refs.find(r => r.ns === 'secrets')
    if (secret) throw new Error(`registry_auth.${field} uses ${secret.key}: secrets are not available yet`)
    if (refs.length > 0) throw new Error(`registry_auth.${field} uses ${refs[0]!.key}: the client resolves it from the run's env (dstack apply); set ${refs[0]!.name} there`)
    out[field] = interpolate(auth[field], () => undefined)
  }
  if (out.username === '' || out.password === '') throw new Error(`registry_auth.${out.username === '' ? 'username' : 'password'} is empty`)
  return out
}
