#!/usr/bin/env bash
# Builds the core with clang and -Werror=thread-safety.
set -euo pipefail
src=$1
build=$2
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -DWB_CORE_ONLY=ON \
  -DCMAKE_CXX_FLAGS="-Werror=thread-safety" >/dev/null
cmake --build "$build" -j 2 --target wbcore
