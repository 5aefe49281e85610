#!/usr/bin/env bash
# Fuzzes init-d's frame decoder and request validation with libFuzzer under
# AddressSanitizer and UBSan. FUZZ_SECONDS (default 60) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
fi
mkdir -p build/fuzz build/fuzz/corpus
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative native/fuzz/frame_fuzzer.cc native/initd/msgpack.cc native/initd/frame.cc native/initd/request.cc \
  -o build/fuzz/frame_fuzzer
build/fuzz/frame_fuzzer -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 -rss_limit_mb=1024 \
  -artifact_prefix=build/fuzz/ build/fuzz/corpus native/fuzz/seeds 2>&1 | tee build/fuzz/last-run.log | grep -E 'stat::|Done|ERROR|SUMMARY|crash' || true
if grep -q 'ERROR\|crash-' build/fuzz/last-run.log; then echo "fuzz: FAILED, see build/fuzz/last-run.log" >&2; exit 1; fi
echo "fuzz: no crashes"
