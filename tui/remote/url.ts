// `ssh://[user@]host[:port]`: a node's SSH gateway (DESIGN.md), port 10022 unless given.
// Imports nothing: connect.ts asks every URL whether it is one before loading ssh2.

export const GATEWAY_PORT = 10022

export interface SshUrl {
  /** The login name: any name reaches the API (the token is what counts); default `dstack`. */
  user: string
  host: string
  port: number
  /** The URL as the user wrote it, for messages. */
  text: string
}

export function isSshUrl (url: string): boolean {
  return /^ssh:\/\//i.test(url)
}

/** Parses an ssh:// URL; throws an Error that names what is wrong in it. */
export function parseSshUrl (url: string): SshUrl {
  const m = /^ssh:\/\/(?:([^@/]+)@)?(\[[0-9a-fA-F:.]+\]|[^:/[\]@]+)(?::(\d*))?\/?$/i.exec(url)
  if (!m) throw new Error(`${url}: expected ssh://[user@]host[:port]`)
  const port = m[3] === undefined || m[3] === '' ? GATEWAY_PORT : Number(m[3])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${url}: the port must be 1-65535`)
  return { user: m[1] === undefined ? 'dstack' : decodeURIComponent(m[1]), host: m[2]!.replace(/^\[|\]$/g, ''), port, text: url }
}

/** ssh://host:port for a host and a port (IPv6 in brackets). */
export function sshUrlOf (host: string, port: number): string {
  return `ssh://${host.includes(':') ? `[${host}]` : host}:${port}`
}
