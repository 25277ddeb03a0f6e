#!/usr/bin/env bash
# SSH into jobs: `sftp`/`scp` into a process job run the host's sftp-server (daemon/ssh/local.ts
# looks for it), and the suites that need a real sshd (SSH fleets, the gateway's comparisons)
# find /usr/sbin/sshd. The stock client (ssh, scp, sftp, ssh-keygen) is checked too.
# Usage: bash scripts/ci/ssh.sh   (idempotent; as root with apt-get, otherwise it only reports)
set -euo pipefail
log () { echo "ssh.sh: $*"; }

missing=()
[ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-sftp-server)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v scp >/dev/null 2>&1 && command -v sftp >/dev/null 2>&1 || missing+=(openssh-client)
if [ ${#missing[@]} -eq 0 ]; then log "openssh client, server and sftp-server present"; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package may start an sshd of its own where an init system runs: the tests run their own.
  mkdir -p /run/sshd
else
  log "not root or no apt-get: ${missing[*]} missing; sftp into process jobs and the sshd suites will not work here"
fi
