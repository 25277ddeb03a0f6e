#!/usr/bin/env bash
# Everything SSH the suites need, installed once:
# - openssh-server: the SSH fleet suites (test/e2e/ssh-fleet) provision real OpenSSH servers,
#   each "host" an sshd in a network namespace of its own with its own user and home
#   (test/e2e/sshd.ts starts and stops them per suite); scripts/bench/ssh.ts compares the gateway
#   with one. sshd itself is never started as a service.
# - openssh-sftp-server: `sftp`/`scp` into a process job run the host's sftp-server
#   (daemon/ssh/local.ts looks for it).
# - openssh-client (ssh, scp, sftp, ssh-keygen): the gateway suites use the stock client.
# - sudo: one fleet host's user must meet a sudo that asks for a password.
# Without root or apt-get it only reports what is missing; the suites then skip, loudly.
# Usage: bash scripts/ci/sshd.sh   (idempotent)
set -euo pipefail
log () { echo "sshd.sh: $*"; }

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-sftp-server)
command -v ssh >/dev/null 2>&1 && command -v scp >/dev/null 2>&1 && command -v sftp >/dev/null 2>&1 || missing+=(openssh-client)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
if [ ${#missing[@]} -eq 0 ]; then
  log "$(/usr/sbin/sshd -V 2>&1 | head -1 || true)"; exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "not root or no apt-get: ${missing[*]} missing; sftp into process jobs, the gateway's stock-client suites and the SSH fleet suites will be skipped or fail here"
  exit 0
fi
log "installing ${missing[*]}"
apt-get update -qq
# The package's postinst would start sshd on port 22 where an init system runs: policy-rc.d says no.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.dsf && chmod +x /usr/sbin/policy-rc.d.dsf
if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.dsf /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
rm -f /usr/sbin/policy-rc.d.dsf
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
mkdir -p /run/sshd
log "installed $(/usr/sbin/sshd -V 2>&1 | head -1 || true)"
