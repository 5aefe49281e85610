#!/usr/bin/env bash
# Builds init-d with AddressSanitizer + UBSan (dynamic: ASan cannot link
# statically) and runs the init-d integration tests against it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/sanitize
g++ -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Wshadow -Inative native/initd/*.cc -o build/sanitize/init-d
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=/tmp/init-d-asan
rm -f /tmp/init-d-asan.*
NODE_GARDEN_INITD=$PWD/build/sanitize/init-d npx ava test/integration/initd.test.ts --match '!init-d is a static executable'
if ls /tmp/init-d-asan.* >/dev/null 2>&1; then
  cat /tmp/init-d-asan.*
  echo "sanitize: init-d reported errors" >&2
  exit 1
fi
echo "sanitize: clean"
