#!/usr/bin/env bash
# Configures and builds writeboost: the one build command of `make build`
# and of the release images' builder stage (docker/*/Dockerfile), so that
# both produce the same binaries (tests/deploy checks that both call it).
#
#   [BUILD=build] [JOBS=N] [CMAKE_FLAGS=...] scripts/build.sh [TARGET...]
#
# No TARGET: everything (binaries, tests, benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
jobs=${JOBS:-$(nproc)}
# shellcheck disable=SC2086 # CMAKE_FLAGS holds several words on purpose.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_FLAGS:-} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
