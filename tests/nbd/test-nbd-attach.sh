#!/usr/bin/env bash
# wbctl attach-nbd: wbctl starts nbdkit with the plugin and nbdfuse, the
# exported file is written and read with dd and checked with wbctl
# read/write (and the other way round), SIGTERM detaches (FUSE unmounted,
# nbdkit and nbdfuse gone), a busy file keeps it attached. Also the errors
# it reports before starting anything, and the --socket mode (nbdinfo).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires nbdfuse fusermount3 nbdinfo dd cmp mountpoint
: "${WBCTL:?set WBCTL to build/bin/wbctl}"
[[ -c /dev/fuse ]] || { echo "SKIP: no /dev/fuse"; exit 77; }

WB_VOLUME_OPTS="origin_size=256M,cache_size=128M"
start_wbd
wbctl() { "$WBCTL" --server "$WB_ENDPOINT" "$@"; }
mkdir -p "$dir/fuse"
cleanup_hooks+=('mountpoint -q "$dir/fuse" && fusermount3 -u -z "$dir/fuse"')

# expect_error RC PATTERN CMD...: CMD exits with RC and says PATTERN.
expect_error() {
  local want=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$dir/err.out" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || fail "$* exited $rc, not $want: $(cat "$dir/err.out")"
  grep -q -- "$pattern" "$dir/err.out" || fail "$* did not say '$pattern': $(cat "$dir/err.out")"
}

step "errors are reported before anything starts"
expect_error 2 "give --socket PATH" wbctl attach-nbd "$VOL"
expect_error 2 "is not a directory" wbctl attach-nbd "$VOL" --fuse-file "$dir/nodir/disk"
expect_error 1 "NOT_FOUND" wbctl attach-nbd nosuch --fuse-file "$dir/fuse/disk"
expect_error 1 "no NBD plugin at $dir/none.so" \
  wbctl attach-nbd "$VOL" --socket "$dir/x.sock" --plugin "$dir/none.so"
expect_error 1 "nbdkit is not on PATH" \
  env PATH=/nonexistent "$WBCTL" --server "$WB_ENDPOINT" attach-nbd "$VOL" --socket "$dir/x.sock"
expect_error 2 "KEY=VALUE" wbctl attach-nbd "$VOL" --socket "$dir/x.sock" --plugin-arg oops
mountpoint -q "$dir/fuse" && fail "a failed attach left a mount"
[[ -e $dir/x.sock ]] && fail "a failed attach left a socket"

# attach ARGS...: wbctl attach-nbd in the background until it reports;
# sets apid and the pids it reports.
attach() {
  rm -f "$dir/attach.out"  # the old report must not pass for the new one
  env $WB_NBDKIT_ENV "$WBCTL" --server "$WB_ENDPOINT" attach-nbd "$VOL" "$@" >"$dir/attach.out" 2>"$dir/attach.log" &
  apid=$!
  bg_pids+=("$apid")
  watch_pid "$apid"
  wait_for 60 "wbctl attach-nbd to report" grep -q "^detach:" "$dir/attach.out"
  cat "$dir/attach.out"
  nbdkit_pid=$(sed -nE 's/^processes: .*nbdkit ([0-9]+).*/\1/p' "$dir/attach.out")
  nbdfuse_pid=$(sed -nE 's/^processes: .*nbdfuse ([0-9]+).*/\1/p' "$dir/attach.out")
  [[ -n $nbdkit_pid ]] || fail "no nbdkit pid reported"
}

# detached: wbctl exited 0 and left nothing running or mounted.
detached() {
  local rc=0
  wait "$apid" || rc=$?
  [[ $rc -eq 0 ]] || fail "wbctl attach-nbd exited $rc: $(cat "$dir/attach.log")"
  grep -q "detached volume $VOL" "$dir/attach.log" || fail "no detach message"
  mountpoint -q "$dir/fuse" && fail "still mounted after detach"
  for p in $nbdkit_pid $nbdfuse_pid; do
    kill -0 "$p" 2>/dev/null && fail "process $p still runs after detach"
  done
  return 0
}

step "attach with --fuse-file: the file has the volume's size"
attach --fuse-file "$dir/fuse/disk"
[[ -n $nbdfuse_pid ]] || fail "no nbdfuse pid reported"
grep -q "^block device: *losetup -f --show --direct-io=on $dir/fuse/disk" "$dir/attach.out" ||
  fail "no losetup hint"
[[ $(stat -c %s "$dir/fuse/disk") -eq $((256 << 20)) ]] ||
  fail "the file is $(stat -c %s "$dir/fuse/disk") bytes, not 256 MiB"

step "dd writes through the file; wbctl reads the volume"
head -c 1M /dev/urandom >"$dir/a.bin"
dd if="$dir/a.bin" of="$dir/fuse/disk" bs=64k seek=16 conv=notrunc,fsync oflag=direct status=none
wbctl read "$VOL" --offset 1M --length 1M --file "$dir/a.back"
cmp "$dir/a.bin" "$dir/a.back" || fail "the volume does not hold what dd wrote"

step "wbctl writes the volume; dd reads through the file"
head -c 256K /dev/urandom >"$dir/b.bin"
wbctl write "$VOL" --offset 4M --file "$dir/b.bin" >/dev/null
dd if="$dir/fuse/disk" of="$dir/b.back" bs=64k skip=64 count=4 iflag=direct status=none
cmp "$dir/b.bin" "$dir/b.back" || fail "dd does not read what wbctl wrote"

step "a 100-byte write inside a sector keeps the bytes around it"
head -c 100 /dev/urandom >"$dir/c.bin"
dd if="$dir/c.bin" of="$dir/fuse/disk" bs=100 count=1 seek=$(((4 << 20) + 1000)) \
  oflag=seek_bytes conv=notrunc,fsync status=none
wbctl read "$VOL" --offset 4M --length 4K --file "$dir/c.back"
python3 - "$dir/b.bin" "$dir/c.bin" "$dir/c.back" <<'PY'
import sys
b, c, back = (open(p, "rb").read() for p in sys.argv[1:])
want = b[:1000] + c + b[1100:4096]
sys.exit(0 if back == want else "FAIL: the sector around the 100-byte write changed")
PY

step "a busy file keeps it attached; SIGTERM then detaches"
exec 7<"$dir/fuse/disk"
kill -TERM "$apid"
wait_for 30 "the busy warning" grep -q "is busy" "$dir/attach.log"
kill -0 "$apid" || fail "wbctl exited with the file still open"
mountpoint -q "$dir/fuse" || fail "unmounted under an open file"
exec 7<&-
kill -TERM "$apid"
detached

step "the volume still holds the data after the detach"
wbctl read "$VOL" --offset 1M --length 1M --file "$dir/a.back2"
cmp "$dir/a.bin" "$dir/a.back2" || fail "data changed after detach"

step "--socket only: an NBD export for any client"
attach --socket "$dir/nbd.sock" --read-only
[[ -z $nbdfuse_pid ]] || fail "nbdfuse started without --fuse-file"
size=$(timeout 30 nbdinfo --size "nbd+unix:///?socket=$dir/nbd.sock")
[[ $size -eq $((256 << 20)) ]] || fail "nbdinfo --size says $size"
timeout 30 nbdinfo --can write "nbd+unix:///?socket=$dir/nbd.sock" &&
  fail "--read-only export is writable"
kill -INT "$apid"
detached

step "nbdkit dying ends wbctl with an error, and it cleans up"
attach --fuse-file "$dir/fuse/disk"
kill -9 "$nbdkit_pid"
rc=0
wait "$apid" || rc=$?
[[ $rc -eq 1 ]] || fail "wbctl exited $rc after nbdkit died"
grep -q "nbdkit exited" "$dir/attach.log" || fail "no message about nbdkit"
mountpoint -q "$dir/fuse" && fail "still mounted after nbdkit died"
kill -0 "$nbdfuse_pid" 2>/dev/null && fail "nbdfuse still runs"
echo PASS
