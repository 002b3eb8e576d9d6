#!/usr/bin/env bash
# Installs validate.mjs's pinned dependencies (package-lock.json) with
# `npm ci` into a cache directory and prints the directory, from which
# `node DIR/validate.mjs MANIFEST...` runs. Reused while the lock file is
# unchanged (WB_TOOLS_DIR, default ~/.cache/writeboost).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${WB_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/writeboost}
lock=$(sha256sum "$here/package-lock.json" | cut -c1-16)
dest=$tools/validate-$lock
if [[ ! -f $dest/.installed ]]; then
  mkdir -p "$tools"
  work=$(mktemp -d "$tools/validate.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  echo "validate: npm ci into $dest" >&2
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  touch "$work/.installed"
  rm -rf "$dest"
  mv "$work" "$dest"
fi
# The script itself is always the checked-in one.
cp "$here/validate.mjs" "$dest/validate.mjs"
echo "$dest"
