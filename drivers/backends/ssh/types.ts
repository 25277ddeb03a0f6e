// What the SSH backend (DESIGN.md, "Runtimes and backends") works on: hosts reached over SSH
// that become members of the mesh by running a bundled dstackd. Plain data, no daemon types:
// drivers never import daemon/.

/** How to log into one host (or its bastion): the key's contents, never a path on some other machine. */
export interface SshEndpoint {
  hostname: string
  port: number
  user: string
  /** The private key (OpenSSH or PEM: RSA, ECDSA, Ed25519). */
  privateKey: string
}

export interface SshTarget extends SshEndpoint {
  /** A bastion the connection goes through (`proxy_jump`). */
  proxyJump: SshEndpoint | null
  /** The address the host's dstackd listens on for the mesh (`internal_ip`); null: every address. */
  internalIp: string | null
}

/** Where a host is in its bootstrap, as `apply` shows it. */
export type Stage = 'connecting' | 'checking' | 'uploading' | 'installing' | 'starting' | 'joined' | 'failed' | 'stopping' | 'removed'

export interface Progress {
  /** `user@hostname:port`, the host as the configuration names it. */
  host: string
  stage: Stage
  /** Upload progress 0..100 while uploading. */
  percent?: number
  /** What failed and how to fix it (stage failed), or a note (`bundle already there`). */
  message?: string
}

/** What a host has, found over SSH before anything is installed. */
export interface HostFacts {
  arch: string
  os: string
  /** Free KiB in the install directory's file system. */
  freeKib: number
  gpuDriver: 'nvidia' | 'amd' | null
  containerEngine: string | null
  root: boolean
  passwordlessSudo: boolean
  systemd: boolean
  node: string | null
  home: string
}

/** The error of one host: says what and how to fix it; never carries a key. */
export class HostError extends Error {
  constructor (readonly host: string, message: string) {
    super(`${host}: ${message}`)
    this.name = 'HostError'
  }
}

export function hostLabel (t: SshEndpoint): string {
  return `${t.user}@${t.hostname}${t.port === 22 ? '' : `:${t.port}`}`
}
