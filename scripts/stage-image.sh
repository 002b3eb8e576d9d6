#!/usr/bin/env bash
# Lays out one image's files from a build tree into a root directory, the
# one install step of both image paths (docker/*/Dockerfile): the release
# builder stage runs it on the tree it just built, scripts/build-images.sh
# --from-host on the host's build/ before `podman build`.
#
#   scripts/stage-image.sh BUILD_DIR DEST_ROOT writeboostd|writeboost-controller
#
# Binaries go to DEST_ROOT/usr/local/bin, the NBD bridge to nbdkit's plugin
# directory (so `nbdkit writeboost server=... volume=...` finds it by name).
# Debug sections are stripped (symbols stay, for backtraces); the build
# tree keeps the full debug info.
set -euo pipefail
if [[ $# -ne 3 ]]; then
  echo "usage: $0 BUILD_DIR DEST_ROOT writeboostd|writeboost-controller" >&2
  exit 2
fi
build=$1 dest=$2 image=$3

case $image in
  writeboostd)
    bins=(writeboostd wbctl)
    plugin=$build/lib/nbdkit-writeboost-plugin.so
    ;;
  writeboost-controller)
    # wbctl: the image's health check and `wbctl pacing`.
    bins=(writeboost-controller wbctl)
    plugin=
    ;;
  *)
    echo "stage-image: unknown image '$image'" >&2
    exit 2
    ;;
esac

install_stripped() {  # SRC DEST_FILE
  if [[ ! -f $1 ]]; then
    echo "stage-image: $1 is missing; build it first (scripts/build.sh)" >&2
    exit 1
  fi
  install -D -m 0755 "$1" "$2"
  strip --strip-debug "$2"
}

rm -rf "$dest"
for b in "${bins[@]}"; do
  install_stripped "$build/bin/$b" "$dest/usr/local/bin/$b"
done
if [[ -n $plugin ]]; then
  plugindir=$(nbdkit --dump-config | sed -n 's/^plugindir=//p')
  if [[ -z $plugindir ]]; then
    echo "stage-image: nbdkit --dump-config names no plugindir" >&2
    exit 1
  fi
  install_stripped "$plugin" "$dest$plugindir/$(basename "$plugin")"
fi
