#!/usr/bin/env bash
# Imports the busybox rootfs as a local Docker image (there is no registry
# here). Rebuilt only when missing. Prints the image reference.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${NODE_GARDEN_TEST_IMAGE:-node-garden/busybox:test}
if ! docker image inspect "$image" >/dev/null 2>&1; then
  dir=$(mktemp -d)
  bash scripts/make-rootfs.sh "$dir/rootfs" >/dev/null
  tar -C "$dir/rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  rm -rf "$dir"
fi
echo "$image"
