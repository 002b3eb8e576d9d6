#!/usr/bin/env bash
# Several cache devices per volume against a real writeboostd: a mirror
# created from the config (cache= twice), data written, one member wiped
# while the node is stopped, the node restarted: the data reads back and
# wbctl status shows the mirror degraded with that member FAILED; wbctl
# resilver copies it back, after which it alone holds the data. Then a
# stripe set formatted and attached through wbctl, checked and drained
# offline; and a mirror formatted offline, then served.
#   WRITEBOOSTD=... WBCTL=... tests/node/test-node-cache-set.sh
set -euo pipefail

SCRATCH_NAME=set
. "$(dirname "$0")/script_setup.sh"
W=("$WBCTL" --server "$server")
vol="name=m,origin=$dir/m.origin,origin_size=64M,cache=$dir/c0,cache=$dir/c1,cache_layout=mirror,cache_size=32M"

start() {  # serves $vol; waits until volume $1 (default m) serves
  # The stripe volume is formatted at run time: its files must be allowed.
  "$WRITEBOOSTD" --listen "$server" --data-dir "$dir/data" --allow-path "$dir" \
    --volume "$vol" >>"$dir/daemon.log" 2>&1 &
  pid=$!
  wait_serving "${1:-m}" --server "$server"
}

echo "--- a new mirror from the config"
start
st=$("${W[@]}" status m --json)
[[ $(json 'd.get("cache_layout")' <<<"$st") == CACHE_LAYOUT_MIRROR ]] || fail "layout: $st"
[[ $(json '[c.get("health") for c in d["cache_devices"]]' <<<"$st") == \
   "['DEVICE_HEALTH_HEALTHY', 'DEVICE_HEALTH_HEALTHY']" ]] || fail "health: $st"
"${W[@]}" status m | grep -q 'cache layout.*mirror, 2 devices' || fail "status: $("${W[@]}" status m)"

echo "--- durable writes, kept dirty in the cache"
"${W[@]}" message m writeback_threshold 0 >/dev/null
head -c 2097152 /dev/urandom >"$dir/data.bin"
"${W[@]}" write m --offset 4M --file "$dir/data.bin" --fua >/dev/null
"${W[@]}" flush m >/dev/null
stop

echo "--- member 1 wiped while the node is stopped"
dd if=/dev/zero of="$dir/c1" bs=1M count=32 conv=notrunc status=none
start
"${W[@]}" read m --offset 4M --length 2M --file "$dir/back.bin"
cmp "$dir/data.bin" "$dir/back.bin" || fail "data read back from the surviving member differs"
st=$("${W[@]}" status m --json)
[[ $(json '[c.get("health") for c in d["cache_devices"]]' <<<"$st") == \
   "['DEVICE_HEALTH_HEALTHY', 'DEVICE_HEALTH_FAILED']" ]] || fail "health after wipe: $st"
human=$("${W[@]}" status m)
grep -q 'DEGRADED: 1 out of service' <<<"$human" || fail "status does not say degraded: $human"
grep -q "cache 1.*$dir/c1.*FAILED" <<<"$human" || fail "status does not show c1 FAILED: $human"
grep -q 'is failed; the mirror set is degraded' "$dir/daemon.log" || fail "no degraded log line"
# Writes keep working on the survivor, and survive another restart.
"${W[@]}" write m --offset 0 --file "$dir/data.bin" --fua >/dev/null
stop
start
"${W[@]}" read m --offset 0 --length 2M --file "$dir/back2.bin"
cmp "$dir/data.bin" "$dir/back2.bin" || fail "write to the degraded mirror lost"

echo "--- wbctl resilver brings member 1 back (offline)"
stop
"$WBCTL" resilver --cache "$dir/c0" --cache "$dir/c1" >"$dir/resilver.out" ||
  fail "resilver: $(cat "$dir/resilver.out")"
grep -q 'member 1 .* is in sync again' "$dir/resilver.out" || fail "resilver: $(cat "$dir/resilver.out")"
# Member 0 alone now holds nothing member 1 lacks: wipe it and serve from 1.
dd if=/dev/zero of="$dir/c0" bs=1M count=32 conv=notrunc status=none
start
st=$("${W[@]}" status m --json)
[[ $(json '[c.get("health") for c in d["cache_devices"]]' <<<"$st") == \
   "['DEVICE_HEALTH_FAILED', 'DEVICE_HEALTH_HEALTHY']" ]] || fail "health after resilver: $st"
"${W[@]}" read m --offset 0 --length 2M --file "$dir/back4.bin"
cmp "$dir/data.bin" "$dir/back4.bin" || fail "resilvered member lacks the data at 0"
"${W[@]}" read m --offset 4M --length 2M --file "$dir/back5.bin"
cmp "$dir/data.bin" "$dir/back5.bin" || fail "resilvered member lacks the data at 4M"

echo "--- a stripe formatted and attached through wbctl"
truncate -s 64M "$dir/s.origin"
truncate -s 16M "$dir/s0" "$dir/s1"
"${W[@]}" format-volume s --origin "$dir/s.origin" --cache "$dir/s0" --cache "$dir/s1" \
  --cache-layout stripe --attach >/dev/null || fail "format-volume stripe"
"${W[@]}" message s writeback_threshold 0 >/dev/null
"${W[@]}" write s --offset 1M --file "$dir/data.bin" --fua >/dev/null
"${W[@]}" read s --offset 1M --length 2M --file "$dir/back3.bin"
cmp "$dir/data.bin" "$dir/back3.bin" || fail "stripe read back differs"
[[ $("${W[@]}" status s --json | json 'd.get("cache_layout")') == CACHE_LAYOUT_STRIPE ]] ||
  fail "stripe layout: $("${W[@]}" status s --json)"
# Several caches without a layout: a usage error, nothing sent.
rc=0; "${W[@]}" format-volume t --origin "$dir/s.origin" --cache "$dir/s0" --cache "$dir/s1" \
  >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "two caches without --cache-layout exited $rc, want 2"
stop

echo "--- offline check and drain of the stripe set"
rc=0; "$WBCTL" check --cache "$dir/s0" >"$dir/alone.out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q 'member 0 of a 2-device stripe cache set' "$dir/alone.out" ||
  fail "check of one stripe member alone (exit $rc): $(cat "$dir/alone.out")"
ck=$("$WBCTL" check --cache "$dir/s1" --cache "$dir/s0" --json) || fail "check of the set: $ck"
[[ $(json 'd["consistent"]' <<<"$ck") == True ]] || fail "set not consistent: $ck"
(( $(json 'd["log"]["distinct_dirty_blocks"]' <<<"$ck") >= 512 )) || fail "dirty blocks: $ck"
cmp -s -i 1048576:0 -n 2097152 "$dir/s.origin" "$dir/data.bin" &&
  fail "the origin held the data before the drain: the drain below proves nothing"
"$WBCTL" drain --cache "$dir/s0" --cache "$dir/s1" --origin "$dir/s.origin" >"$dir/drain.out" ||
  fail "drain of the set: $(cat "$dir/drain.out")"
cmp -i 1048576:0 -n 2097152 "$dir/s.origin" "$dir/data.bin" ||
  fail "the origin lacks the drained data"
ck=$("$WBCTL" check --cache "$dir/s0" --cache "$dir/s1" --json) || fail "check after drain: $ck"
[[ $(json 'd["log"]["distinct_dirty_blocks"]' <<<"$ck") == 0 ]] || fail "dirty after drain: $ck"

echo "--- offline format of a mirror set, then served by the node"
truncate -s 64M "$dir/x.origin"
rc=0; "$WBCTL" format --cache "$dir/x0" --cache "$dir/x1" --cache-size 16M \
  --origin "$dir/x.origin" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "two caches without --cache-layout exited $rc, want 2"
"$WBCTL" format --cache "$dir/x0" --cache "$dir/x1" --cache-size 16M --cache-layout mirror \
  --origin "$dir/x.origin" >"$dir/format.out" || fail "format mirror: $(cat "$dir/format.out")"
grep -q 'mirror of 2 devices' "$dir/format.out" || fail "format: $(cat "$dir/format.out")"
rc=0; "$WBCTL" format --cache "$dir/x1" --origin "$dir/x.origin" >"$dir/reformat.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q 'member 1 of a 2-device mirror cache set' "$dir/reformat.out" ||
  fail "reformatting one member without --force (exit $rc): $(cat "$dir/reformat.out")"
vol="name=x,origin=$dir/x.origin,cache=$dir/x1,cache=$dir/x0,cache_layout=mirror"
start x
"${W[@]}" write x --offset 0 --file "$dir/data.bin" --fua >/dev/null
"${W[@]}" read x --offset 0 --length 2M --file "$dir/back6.bin"
cmp "$dir/data.bin" "$dir/back6.bin" || fail "offline-formatted mirror read back differs"
stop
echo PASS
