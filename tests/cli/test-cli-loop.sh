#!/usr/bin/env bash
# wbctl on a block device: a loop device as the origin (identity
# "loop:<backing file>:<offset>"), format, check, dirty data, drain, and a
# second loop device refused as the wrong origin. Needs root and losetup;
# skips (77) otherwise.
#
# Usage: test-cli-loop.sh PATH/TO/wbctl PATH/TO/wb_write_helper
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root for losetup"; exit 77; }
command -v losetup >/dev/null || { echo "SKIP: losetup is missing"; exit 77; }

# attach FILE: sets $dev to a new loop device for FILE, detached at exit.
# (Not in a command substitution: the hook must reach this shell's list.)
attach() {
  dev=$(losetup --find --show "$1" 2>/dev/null) || return 1
  cleanup_hooks+=("losetup -d $dev")
}

truncate -s 64M "$dir/origin.img" "$dir/other.img"
cp "$dir/origin.img" "$dir/origin.orig"
attach "$dir/origin.img" || { echo "SKIP: cannot attach a loop device"; exit 77; }
loop=$dev
attach "$dir/other.img" || { echo "SKIP: cannot attach a second loop device"; exit 77; }
other=$dev
cache=$dir/cache

step "format with a loop device as origin"
expect 0 "$WBCTL" format --cache "$cache" --cache-size 32M --origin "$loop"
contains "$out" "origin identity:" "format summary"
contains "$out" "loop:" "loop identity"

step "check"
expect 0 "$WBCTL" check --cache "$cache" --origin "$loop"
contains "$out" "result: consistent" "check"

step "dirty data, then the wrong origin is refused"
"$HELPER" write "$cache" "$loop" 11 200 || fail "wb_write_helper write failed"
expect 0 "$WBCTL" check --cache "$cache" --json
[[ $(json "j['log']['distinct_dirty_blocks'] > 0") == True ]] || fail "no dirty blocks"
expect 1 "$WBCTL" drain --cache "$cache" --origin "$other"
one_error_line
contains "$err" "wrong origin" "second loop device"

step "drain onto the loop device"
"$HELPER" expect "$dir/origin.orig" "$dir/expected" 11 200 || fail "wb_write_helper expect failed"
expect 0 "$WBCTL" drain --cache "$cache" --origin "$loop"
[[ $out == *"dirty blocks left:"*" 0"* ]] || fail "drain left dirty blocks: $out"
cmp "$loop" "$dir/expected" || fail "loop device does not hold the pattern after drain"
expect 0 "$WBCTL" check --cache "$cache" --json
[[ $(json "j['log']['segments']") == 0 ]] || fail "cache not clean after drain"

echo "PASS"
