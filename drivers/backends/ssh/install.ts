// What goes on a host and how it comes off: the bundle (once per version, by its hash) under
// the SSH user's home, dstackd started with the join token, as a systemd unit where systemd
// runs and may be used (root or passwordless sudo), else as a supervised background process (a
// restart loop in its own session, its pid in a file). Everything lives in one directory, so
// removing it removes what was installed; the unit, where there is one, goes too.
import type { Client } from 'ssh2'
import { posix } from 'node:path'
import { exec } from './connect.ts'
import type { HostFacts } from './types.ts'

/** The install directory under the SSH user's home: one per fleet, so two fleets never share a host's files. */
export function installDir (home: string, fleet: string): string {
  return posix.join(home, '.dstack', `fleet-${fleet}`)
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`

function unitName (fleet: string): string {
  return `dstackd-fleet-${fleet}.service`
}

/** Whether this version of the bundle is on the host already. */
export async function hasBundle (c: Client, dir: string, hash: string): Promise<boolean> {
  return (await exec(c, `test -f ${quote(`${dir}/bundles/${hash}/lib/dstackd.mjs`)}`)).code === 0
}

/** Uploads the bundle over SFTP (progress in %), then unpacks it where its hash says. */
export async function uploadBundle (c: Client, dir: string, bundle: { path: string, hash: string }, onPercent: (p: number) => void): Promise<void> {
  const target = `${dir}/bundles/${bundle.hash}`
  const mk = await exec(c, `mkdir -p ${quote(`${dir}/bundles`)} && chmod 700 ${quote(dir)}`)
  if (mk.code !== 0) throw new Error(`cannot create ${dir}: ${mk.stderr.trim()} — check the home directory's permissions and free space`)
  const remote = `${target}.tgz.part`
  await new Promise<void>((resolve, reject) => {
    c.sftp((err, sftp) => {
      if (err) return reject(new Error(`SFTP is not available (${err.message}) — enable the sftp subsystem in sshd_config`))
      let last = -1
      sftp.fastPut(bundle.path, remote, {
        step: (done, _chunk, total) => {
          const p = Math.floor(done * 100 / total)
          if (p !== last) { last = p; onPercent(p) }
        }
      }, e => { sftp.end(); e ? reject(new Error(`uploading the bundle failed: ${e.message}`)) : resolve() })
    })
  })
  const unpack = await exec(c, `set -e; rm -rf ${quote(`${target}.new`)}; mkdir -p ${quote(`${target}.new`)}; tar -xzf ${quote(remote)} -C ${quote(`${target}.new`)}; rm -f ${quote(remote)}; rm -rf ${quote(target)}; mv ${quote(`${target}.new`)} ${quote(target)}`)
  if (unpack.code !== 0) throw new Error(`unpacking the bundle failed: ${unpack.stderr.trim()} — is tar installed?`)
}

export interface StartOptions {
  dir: string
  hash: string
  fleet: string
  joinToken: string
  /** The mesh address to listen on (internal_ip), else every address. */
  listen: string | null
  facts: HostFacts
  user: string
}

/**
 * Starts dstackd on the host and returns the byte offset of its log where this start begins
 * (waitReady reads from there). The token goes in a file of mode 0600, never on a command line.
 */
export async function startDaemon (c: Client, o: StartOptions): Promise<number> {
  const d = o.dir
  const args = ['run', '--data-dir', `${d}/data`, '--fleet', o.fleet, '--log-file', `${d}/dstackd.log`,
    ...(o.listen ? ['--listen', `/ip4/${o.listen}/tcp/10100`] : [])]
  const cmd = `node ${quote(`${d}/bundles/${o.hash}/lib/dstackd.mjs`)} ${args.map(quote).join(' ')}`
  const run = `#!/bin/sh
# Written by dstack (SSH fleet ${o.fleet}): runs dstackd; the join token is read from a file.
DSTACKD_JOIN_TOKEN=$(cat ${quote(`${d}/join`)}) exec ${cmd}
`
  // Supervised without systemd: restarted when it exits, in a session of its own (pid = group).
  // $$ here is the session leader setsid made (setsid may fork, so the caller's $! is not it).
  const loop = `#!/bin/sh
echo $$ > ${quote(`${d}/loop.pid`)}
while :; do ${quote(`${d}/run.sh`)}; sleep 2; done
`
  const useSystemd = o.facts.systemd && (o.facts.root || o.facts.passwordlessSudo)
  const sudo = o.facts.root ? '' : 'sudo -n '
  const unit = `[Unit]
Description=dstackd (SSH fleet ${o.fleet})
After=network-online.target
[Service]
User=${o.user}
ExecStart=${d}/run.sh
Restart=always
RestartSec=2
KillMode=process
[Install]
WantedBy=multi-user.target
`
  const script = `set -e
umask 077
cd ${quote(d)}
cat > join <<'DSTACK_EOF'
${o.joinToken}
DSTACK_EOF
cat > run.sh <<'DSTACK_EOF'
${run}DSTACK_EOF
cat > loop.sh <<'DSTACK_EOF'
${loop}DSTACK_EOF
chmod 700 run.sh loop.sh
touch dstackd.log
wc -c < dstackd.log > .offset
${useSystemd
  ? `printf '%s' ${quote(unit)} | ${sudo}tee /etc/systemd/system/${unitName(o.fleet)} >/dev/null
${sudo}systemctl daemon-reload
${sudo}systemctl enable --now ${unitName(o.fleet)} >/dev/null 2>&1
${sudo}systemctl restart ${unitName(o.fleet)}`
  : `if [ -f loop.pid ]; then
  g=$(cat loop.pid); kill -TERM -- -"$g" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- -"$g" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- -"$g" 2>/dev/null || true
fi
rm -f loop.pid
setsid sh ./loop.sh </dev/null >>dstackd.out 2>&1 &`}
cat .offset
`
  const r = await exec(c, 'sh -s', script)
  if (r.code !== 0) throw new Error(`starting dstackd failed: ${r.stderr.trim() || r.stdout.trim()}`)
  return Number(r.stdout.trim().split('\n').pop()) || 0
}

/**
 * Waits until the daemon says it is ready (its peer id) or that it could not start (its
 * reason), reading its log from `offset`.
 */
export async function waitReady (c: Client, dir: string, offset: number, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  const log = quote(`${dir}/dstackd.log`)
  for (;;) {
    const r = await exec(c, `tail -c +${offset + 1} ${log} 2>/dev/null | grep -m1 -E '"msg":"(dstackd ready|dstackd could not start)"'`)
    const line = r.stdout.trim()
    if (line) {
      const entry = JSON.parse(line) as { msg: string, node?: string, error?: string }
      if (entry.msg === 'dstackd ready' && entry.node) return entry.node
      throw new Error(`dstackd did not start: ${entry.error ?? 'see its log'} (log: ${dir}/dstackd.log)`)
    }
    if (Date.now() > deadline) {
      const out = (await exec(c, `tail -c 400 ${quote(`${dir}/dstackd.out`)} 2>/dev/null`)).stdout.trim()
      throw new Error(`dstackd did not say it was ready within ${timeoutMs / 1000}s${out ? `: ${out}` : ''} (log: ${dir}/dstackd.log)`)
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

/** Stops dstackd and removes everything installed under `dir` (and the unit, where there is one). */
export async function uninstall (c: Client, dir: string, fleet: string, facts: Pick<HostFacts, 'root' | 'passwordlessSudo'>): Promise<void> {
  const sudo = facts.root ? '' : 'sudo -n '
  const unit = `/etc/systemd/system/${unitName(fleet)}`
  const script = `
cd ${quote(dir)} 2>/dev/null || exit 0
if [ -f ${unit} ]; then ${sudo}systemctl disable --now ${unitName(fleet)} >/dev/null 2>&1; ${sudo}rm -f ${unit}; ${sudo}systemctl daemon-reload; fi
if [ -f loop.pid ]; then
  g=$(cat loop.pid); kill -TERM -- -"$g" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 -- -"$g" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- -"$g" 2>/dev/null
fi
# The daemon itself, by its process record, should it have left the group.
p=$(sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p' data/dstackd.pid 2>/dev/null)
if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
  kill -TERM "$p"; for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -KILL "$p" 2>/dev/null
fi
cd / && rm -rf ${quote(dir)} ${quote(`${dir}/data-jobs`)}
`
  const r = await exec(c, 'sh -s', script)
  if (r.code !== 0) throw new Error(`removing ${dir} failed: ${r.stderr.trim()}`)
}
