#!/usr/bin/env bash
# Starts dockerd unless an engine already answers, and waits until it does.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
log=${DOCKERD_LOG:-/var/log/node-garden-dockerd.log}
echo "setup: starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "setup: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -20 "$log" >&2
exit 1
