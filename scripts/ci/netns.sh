#!/usr/bin/env bash
# The namespace suites (test/e2e/partition, mdns) make network namespaces with iproute2; in CI,
# as root, they must run rather than skip (scripts/test.js fails a suite skipped there).
set -euo pipefail
if ! command -v ip >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
  else
    echo "iproute2 (ip) is missing: the network namespace suites will be skipped" >&2
  fi
fi
