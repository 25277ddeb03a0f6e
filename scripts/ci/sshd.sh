#!/usr/bin/env bash
# The SSH fleet suites (test/e2e/ssh-fleet) provision real OpenSSH servers: each "host" is an sshd
# in a network namespace of its own, with its own user and home (test/e2e/sshd.ts starts and
# stops them per suite). Here only what they need is installed: openssh-server (sshd itself is
# never started as a service) and sudo (one host's user must meet a sudo that asks for a password).
# Without root or apt-get it only reports what is missing; the suites then skip, loudly.
# Usage: bash scripts/ci/sshd.sh   (idempotent)
set -euo pipefail
log () { echo "sshd.sh: $*"; }
if [ -x /usr/sbin/sshd ] && command -v sudo >/dev/null 2>&1; then
  log "$(/usr/sbin/sshd -V 2>&1 | head -1 || true)"; exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "not root or no apt-get: openssh-server and sudo are not installed; the SSH fleet suites will be skipped"
  exit 0
fi
log "installing openssh-server, sudo"
apt-get update -qq
# The package's postinst would start sshd on port 22 where an init system runs: policy-rc.d says no.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.dsf && chmod +x /usr/sbin/policy-rc.d.dsf
if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.dsf /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
rm -f /usr/sbin/policy-rc.d.dsf
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server sudo >/dev/null
mkdir -p /run/sshd
log "installed $(/usr/sbin/sshd -V 2>&1 | head -1 || true)"
