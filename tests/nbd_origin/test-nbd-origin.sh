#!/usr/bin/env bash
# A volume whose origin is an NBD export: writeboostd in front of nbdkit's
# file plugin serving the files of a directory as exports (behind the rate
# filter, as a shared back end would be). Writes go through the node,
# survive a node restart (the origin URI spelled another way, same
# identity) and an nbdkit crash and restart under them, and after
# drop-caches the file behind nbdkit holds them.
#   WRITEBOOSTD=... WBCTL=... tests/nbd_origin/test-nbd-origin.sh
set -euo pipefail

: "${WRITEBOOSTD:?set WRITEBOOSTD to the writeboostd binary}"
: "${WBCTL:?set WBCTL to the wbctl binary}"
for tool in nbdkit python3 cmp truncate dd; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done

dir=$(mktemp -d /var/tmp/wb-nbd-origin-XXXXXX)
pid=""
nbdkit_pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
  [[ -n "$nbdkit_pid" ]] && kill -9 "$nbdkit_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- daemon log:" >&2; cat "$dir/daemon.log" >&2 || true
  echo "--- nbdkit log:" >&2; cat "$dir/nbdkit.log" >&2 || true
  exit 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

sock="$dir/nbd.sock"
mkdir "$dir/exports"
origin="$dir/exports/v.img"
truncate -s 64M "$origin"
truncate -s 64M "$dir/exports/other.img"

# nbdkit serving exports/* on $sock; waits until it accepts connections (it
# writes its pid file then, a moment after the socket appears).
start_nbdkit() {
  rm -f "$sock" "$sock.pid"
  nbdkit -f --exit-with-parent -U "$sock" -P "$sock.pid" --filter=rate \
    file dir="$dir/exports" rate=2G >>"$dir/nbdkit.log" 2>&1 &
  nbdkit_pid=$!
  for _ in $(seq 200); do
    [[ -s "$sock.pid" ]] && return 0
    sleep 0.05
  done
  fail "nbdkit did not start"
}
crash_nbdkit() {
  kill -9 "$nbdkit_pid"
  wait "$nbdkit_pid" 2>/dev/null || true
  nbdkit_pid=""
}

server="unix:$dir/wb.sock"
W=("$WBCTL" --server "$server")
start() {  # start VOLUME_SPEC: starts the daemon; waits until v is serving or failed
  "$WRITEBOOSTD" --listen "$server" --volume "$1" >>"$dir/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    state=$("${W[@]}" status v --json 2>/dev/null | json 'd["state"]' 2>/dev/null || true)
    [[ "$state" == VOLUME_STATE_SERVING || "$state" == VOLUME_STATE_FAILED ]] && return 0
    sleep 0.1
  done
  fail "daemon did not start"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "daemon exited with $?"
  pid=""
}

start_nbdkit
uri="nbd+unix:///v.img?socket=$sock"
vol="name=v,origin=$uri,cache=$dir/v.cache,cache_size=32M"

# origin_size makes no sense for an export: the volume fails, saying why.
start "$vol,origin_size=64M"
out=$("${W[@]}" status v --json)
[[ $(json 'd["state"]' <<<"$out") == VOLUME_STATE_FAILED ]] || fail "origin_size accepted: $out"
[[ "$out" == *"origin_size cannot be used with the NBD origin"* ]] || fail "failure: $out"
stop
[[ ! -e "$dir/v.cache" ]] || fail "a cache was created for a refused origin"

# A new cache formatted for the export; the volume is the export's size.
start "$vol"
[[ $("${W[@]}" status v --json | json 'd["state"]') == VOLUME_STATE_SERVING ]] ||
  fail "not serving: $("${W[@]}" status v --json)"
[[ $("${W[@]}" ls --json | json 'd[0]["size_bytes"]') == 67108864 ]] || fail "size: $("${W[@]}" ls --json)"
"${W[@]}" message v writeback_threshold 0 >/dev/null  # Keep the data dirty.

head -c 1048576 /dev/urandom >"$dir/data"
head -c 4096 /dev/urandom >"$dir/small"
"${W[@]}" write v --offset 1M --file "$dir/data" --fua >/dev/null
"${W[@]}" write v --offset 8K --file "$dir/small" >/dev/null
"${W[@]}" read v --offset 1M --length 1M --file "$dir/back"
cmp "$dir/data" "$dir/back" || fail "read back through the node differs"
[[ $("${W[@]}" status v --json | json 'd["nr_dirty_cache_blocks"] > 0') == True ]] ||
  fail "no dirty blocks"
cmp <(dd if="$origin" bs=1M skip=1 count=1 status=none) <(head -c 1048576 /dev/zero) ||
  fail "the origin changed while writeback was off"
stop

# The same export named another way (a percent-encoded "."): the same
# identity, so the cache opens and replays its dirty data.
start "name=v,origin=nbd+unix:///v%2Eimg?socket=$sock,cache=$dir/v.cache"
[[ $("${W[@]}" status v --json | json 'd["state"]') == VOLUME_STATE_SERVING ]] ||
  fail "reopen with the URI spelled differently: $("${W[@]}" status v --json)"
"${W[@]}" read v --offset 8K --length 4K --file "$dir/small.back"
cmp "$dir/small" "$dir/small.back" || fail "unflushed write lost across a node restart"

# nbdkit crashes and comes back under the node: drop-caches still writes
# everything back (the device reconnects; the batch whose flush it refuses
# is written again).
crash_nbdkit
start_nbdkit
"${W[@]}" drop-caches v | grep -q 'no dirty data left' || fail drop-caches
[[ $("${W[@]}" status v --json | json 'd["nr_dirty_cache_blocks"]') == 0 ]] || fail "dirty after drop-caches"
grep -q "connection lost; reconnected" "$dir/daemon.log" || fail "no reconnect logged"
stop
crash_nbdkit  # What the node wrote must already be in the file.

cmp <(dd if="$origin" bs=1M skip=1 count=1 status=none) "$dir/data" ||
  fail "the file behind nbdkit lacks the 1 MiB write"
cmp <(dd if="$origin" bs=4K skip=2 count=1 status=none) "$dir/small" ||
  fail "the file behind nbdkit lacks the 4 KiB write"

# Another export of the same size is another origin: the cache refuses it.
start_nbdkit
start "name=v,origin=nbd+unix:///other.img?socket=$sock,cache=$dir/v.cache"
out=$("${W[@]}" status v --json)
[[ $(json 'd["state"]' <<<"$out") == VOLUME_STATE_FAILED && "$out" == *"wrong origin"* &&
   "$out" == *"nbd:nbd+unix:///v.img?socket="* ]] || fail "another export accepted: $out"
stop
crash_nbdkit

# With the server gone the volume cannot open, and says where it looked.
start "$vol"
out=$("${W[@]}" status v --json)
[[ $(json 'd["state"]' <<<"$out") == VOLUME_STATE_FAILED && "$out" == *"$sock"* ]] ||
  fail "no server: $out"
stop
echo PASS
