// What a host has, asked in one round trip before anything is installed, and what would stop
// dstackd there, each with its fix.
import type { Client } from 'ssh2'
import { exec } from './connect.ts'
import type { HostFacts } from './types.ts'

/** Needed free space where the bundle goes (the bundle unpacked, its log, a first Raft log). */
export const MIN_FREE_KIB = 200 * 1024
const MIN_NODE = [20, 6]

const SCRIPT = `
echo "arch=$(uname -m)"
( . /etc/os-release 2>/dev/null && echo "os=$ID $VERSION_ID" ) || echo "os=$(uname -s)"
echo "home=$HOME"
echo "free=$(df -Pk "$HOME" 2>/dev/null | awk 'NR==2 {print $4}')"
if command -v nvidia-smi >/dev/null 2>&1; then echo gpu=nvidia; elif command -v amd-smi >/dev/null 2>&1 || command -v rocm-smi >/dev/null 2>&1; then echo gpu=amd; fi
if command -v docker >/dev/null 2>&1; then echo "engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null)"; fi
echo "uid=$(id -u)"
if sudo -n true >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi
echo "init=$(cat /proc/1/comm 2>/dev/null)"
echo "node=$(node --version 2>/dev/null)"
`

export async function checkHost (c: Client): Promise<HostFacts> {
  const r = await exec(c, 'sh -s', SCRIPT)
  const kv = new Map<string, string>()
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim())
  }
  const gpu = kv.get('gpu')
  return {
    arch: kv.get('arch') ?? 'unknown',
    os: kv.get('os') ?? 'unknown',
    home: kv.get('home') ?? '',
    freeKib: Number(kv.get('free') ?? 0) || 0,
    gpuDriver: gpu === 'nvidia' || gpu === 'amd' ? gpu : null,
    containerEngine: kv.get('engine') || null,
    root: kv.get('uid') === '0',
    passwordlessSudo: kv.get('sudo') === 'yes',
    systemd: kv.get('init') === 'systemd',
    node: kv.get('node') || null
  }
}

/** What stops dstackd on a host with these facts, as "cause — fix"; empty when nothing does. */
export function hostProblems (f: HostFacts, user: string): string[] {
  const out: string[] = []
  if (f.arch !== 'x86_64') out.push(`the CPU is ${f.arch}; the bundle is built for x86_64 — use an x86_64 host`)
  if (!f.root && !f.passwordlessSudo) out.push(`sudo asks for a password — give \`${user}\` passwordless sudo or connect as root`)
  const m = /^v(\d+)\.(\d+)/.exec(f.node ?? '')
  if (!m) out.push('Node.js is not installed (dstackd runs on the system\'s node) — install Node.js 20.6 or later')
  else if (Number(m[1]) < MIN_NODE[0]! || (Number(m[1]) === MIN_NODE[0] && Number(m[2]) < MIN_NODE[1]!)) out.push(`Node.js is ${f.node}, dstackd needs 20.6 or later — upgrade Node.js`)
  if (f.home === '') out.push('the user has no home directory — give it one')
  else if (f.freeKib < MIN_FREE_KIB) out.push(`only ${Math.floor(f.freeKib / 1024)} MB free in ${f.home}, dstackd needs ${MIN_FREE_KIB / 1024} MB — free some space`)
  return out
}
