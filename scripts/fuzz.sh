#!/usr/bin/env bash
# Builds the recovery fuzzer with clang, libFuzzer and ASan (core only) and
# runs it for $1 seconds (default 600) on tests/fuzz/corpus plus a working
# corpus kept in the build directory. Findings land in $FUZZ_BUILD/fuzz-artifacts.
set -euo pipefail
seconds=${1:-600}
build=${FUZZ_BUILD:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWB_CORE_ONLY=ON -DWB_FUZZ=ON -DWB_SANITIZE=address \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
cmake --build "$build" -j "$(nproc)" --target recovery_fuzz
mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts"
exec "$build/bin/recovery_fuzz" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
  -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-artifacts/" "$build/fuzz-corpus" tests/fuzz/corpus
