#!/usr/bin/env bash
# Brings a fresh Debian machine to what node-garden needs: the apt packages,
# a running dockerd, and the local test image. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runc >/dev/null || need+=(runc)
{ command -v busybox >/dev/null && file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked'; } || need+=(busybox-static)
command -v file >/dev/null || need+=(file)
command -v iptables >/dev/null || need+=(iptables)
command -v tc >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# `file` may have been installed just now: re-check busybox.
if ! file -L "$(command -v busybox)" | grep -q 'statically linked'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

bash scripts/start-dockerd.sh
bash scripts/make-test-image.sh
