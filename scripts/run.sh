#!/usr/bin/env bash
# make run: serves the embedded default volume in the foreground.
#
# With no volume configured, writeboostd creates ./wb-data/default.origin (a
# sparse 1 GiB file) and ./wb-data/default.cache (256 MiB, formatted once)
# and reuses them on every later run. Extra arguments go to writeboostd, e.g.
#   scripts/run.sh --listen unix:/tmp/wb.sock
# Ctrl-C (SIGINT) or SIGTERM stops it cleanly: nothing acknowledged is lost.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
daemon=$build/bin/writeboostd
if [[ ! -x $daemon ]]; then
  echo "run.sh: $daemon is missing; run 'make build' first" >&2
  exit 1
fi
cat <<MSG
Serving the embedded default volume "default" on 127.0.0.1:7200 (data in ./wb-data).
From another terminal:
  $build/bin/wbctl status default
  $build/bin/wbctl write default --offset 0 --length 4096 --fill 0xab --fua
  $build/bin/wbctl read default --offset 0 --length 512
Stop with Ctrl-C.
MSG
exec "$daemon" --data-dir wb-data "$@"
