#!/usr/bin/env bash
# The container suites need a real engine and images built here (no registry is reachable):
#   local/busybox:latest   busybox-static, 2 MB, built in 0.2 s
#   local/debian:bookworm  debootstrap minbase (bash, apt, sftp-server for `sftp RUN`), ~120 MB; the rootfs tarball is cached
#   local/dind:latest      local/debian plus this host's docker engine binaries, for `docker: true`
# As root with apt-get it installs docker.io and starts dockerd in the background; otherwise it
# only reports what is missing (the container suites then skip, loudly).
# Usage: bash scripts/ci/docker.sh            (idempotent; reruns take a few seconds)
set -euo pipefail

CACHE=${DSTACK_CI_CACHE:-/var/cache/dstackd-ci}
log () { echo "docker.sh: $*"; }

if [ "$(id -u)" != 0 ]; then
  log "not root: the engine is not installed here; the container suites will be skipped"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 || [ ! -x /bin/busybox ]; then
  if command -v apt-get >/dev/null 2>&1; then
    log "installing docker.io, busybox-static, debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static debootstrap >/dev/null
  else
    log "no apt-get: cannot install the engine; the container suites will be skipped"
    exit 0
  fi
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd-ci.log 2>&1 &
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer; see /var/log/dockerd-ci.log"; tail -20 /var/log/dockerd-ci.log; exit 1; }
fi
log "engine $(docker version --format '{{.Server.Version}}')"

mkdir -p "$CACHE"

# busybox: every applet as a link to the static binary.
if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
  bb=$(mktemp -d)
  mkdir -p "$bb"/bin "$bb"/etc "$bb"/tmp "$bb"/root "$bb"/proc "$bb"/sys "$bb"/dev
  chmod 1777 "$bb"/tmp
  cp /bin/busybox "$bb"/bin/
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$bb/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$bb"/etc/passwd
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$bb"/etc/group
  tar -C "$bb" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - local/busybox:latest >/dev/null
  rm -rf "$bb"
  log "built local/busybox:latest"
fi

# Debian: debootstrap once, the rootfs tarball cached for later runs.
if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
  # The name says what is in it: a tarball cached before sftp-server was added is not reused.
  tarball="$CACHE/debian-bookworm-sftp.tar"
  if [ ! -s "$tarball" ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d)
    log "debootstrap bookworm from $mirror (about a minute, once)"
    debootstrap --variant=minbase --include=openssh-sftp-server bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["/bin/bash"]' "$tarball" local/debian:bookworm >/dev/null
  log "built local/debian:bookworm"
fi

# An engine inside a job (`docker: true`): Debian plus this host's engine binaries and the shared
# libraries they link that minbase lacks (Debian's dockerd needs libdevmapper). No iptables:
# start-dockerd then runs the inner engine with --iptables=false. The label marks the recipe, so
# an image built by an older one is rebuilt.
DIND_RECIPE=3
if [ "$(docker image inspect -f '{{index .Config.Labels "dstackd.dind"}}' local/dind:latest 2>/dev/null)" != "$DIND_RECIPE" ]; then
  ctx=$(mktemp -d)
  mkdir -p "$ctx/bin" "$ctx/lib"
  for b in docker dockerd containerd containerd-shim-runc-v2 runc docker-init docker-proxy ctr; do
    p=$(command -v "$b" || true); [ -n "$p" ] || continue
    cp -L "$p" "$ctx/bin/"
    ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// && $1 !~ /^(libc|libm|libdl|librt|libpthread|ld-linux)[.-]/ { print $3 }' | while read -r l; do cp -Ln "$l" "$ctx/lib/"; done || true  # a static binary: ldd fails
  done
  cat > "$ctx/Dockerfile" <<EOF
FROM local/debian:bookworm
COPY bin/ /usr/local/bin/
COPY lib/ /usr/local/lib/dind/
RUN echo /usr/local/lib/dind > /etc/ld.so.conf.d/zz-dind.conf && ldconfig
LABEL dstackd.dind=$DIND_RECIPE
EOF
  DOCKER_BUILDKIT=0 docker build -q -t local/dind:latest "$ctx" >/dev/null
  rm -rf "$ctx"
  log "built local/dind:latest"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^local/' | sed 's/^/docker.sh: image /'
