// Whether a container engine answers on this host, and which: one `GET /version` over the
// engine's socket (what `docker version` asks), time-boxed, so a hung engine never stalls a
// start. Raw HTTP rather than dockerode: the inventory stays cheap to import.
import { request } from 'node:http'

/** Where the engine listens: a Unix socket, or TCP (DOCKER_HOST=tcp://HOST:PORT). */
export type EngineEndpoint = { socketPath: string } | { host: string, port: number }

export interface EngineFacts {
  /** `docker`: the only engine this version runs containers in. */
  name: string
  /** As the engine reports it (`20.10.24+dfsg1`). */
  version: string
  /** The engine's API version, for messages. */
  apiVersion?: string
}

export const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock'
/** A probe ends within this: an engine that does not answer by then counts as absent. */
export const ENGINE_PROBE_TIMEOUT_MS = 3000

/** DOCKER_HOST's grammar (`unix:///path`, `tcp://host:port`); unset or empty: the default socket. */
export function engineEndpoint (dockerHost: string | undefined = process.env.DOCKER_HOST): EngineEndpoint {
  if (dockerHost === undefined || dockerHost === '') return { socketPath: DEFAULT_ENGINE_SOCKET }
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) }
  const m = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(dockerHost)
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost }
  throw new Error(`DOCKER_HOST=${dockerHost}: expected unix:///path/to/socket or tcp://host:port`)
}

export function describeEndpoint (e: EngineEndpoint): string {
  return 'socketPath' in e ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`
}

/** The engine's facts, or why none answers (never rejects). */
export function probeEngine (endpoint: EngineEndpoint, timeoutMs = ENGINE_PROBE_TIMEOUT_MS): Promise<{ engine: EngineFacts } | { engine: null, why: string }> {
  return new Promise(resolve => {
    const where = describeEndpoint(endpoint)
    const req = request({ ...endpoint, path: '/version', method: 'GET', timeout: timeoutMs, headers: { host: 'docker' } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', d => { if (body.length < 65536) body += d })
      res.on('error', err => resolve({ engine: null, why: `no container engine at ${where}: ${err.message}` }))
      res.on('end', () => {
        if (res.statusCode !== 200) { resolve({ engine: null, why: `the container engine at ${where} answered ${res.statusCode}` }); return }
        try {
          const v = JSON.parse(body) as { Version?: unknown, ApiVersion?: unknown }
          if (typeof v.Version !== 'string') throw new Error('no Version')
          resolve({ engine: { name: 'docker', version: v.Version, ...(typeof v.ApiVersion === 'string' ? { apiVersion: v.ApiVersion } : {}) } })
        } catch {
          resolve({ engine: null, why: `what answers at ${where} is not a container engine` })
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', err => resolve({ engine: null, why: `no container engine at ${where}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }))
    req.end()
  })
}
