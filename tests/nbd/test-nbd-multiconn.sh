#!/usr/bin/env bash
# Multi-connection semantics (the reason the plugin sets can_multi_conn):
# several qemu-io clients on one nbdkit, each its own NBD connection and its
# own gRPC stream, kept open (qemu-io "sleep") so that none of them flushes
# on exit unless told to.
#   - a write on A is visible to B at once, with no flush;
#   - a FUA write on C is visible to B while C is still connected;
#   - a flush on E makes durable the writes of A and D (other connections)
#     that were acknowledged before it: after SIGKILL of writeboostd and a
#     restart they read back;
#   - a connection (F) that wrote before the restart and flushes after it
#     gets EIO from the flush (libwbclient's restart detection), since
#     writes the old daemon acknowledged may be gone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires qemu-io nbdinfo

# No periodic seal: only flush/FUA make data durable.
WB_VOLUME_OPTS="origin_size=512M,cache_size=256M,sync_data_interval=0"
start_wbd
start_nbdkit nbd --filter=log -- logfile="$dir/nbd-requests.log"
log=$dir/nbd-requests.log
timeout 30 nbdinfo --can multi-conn "$uri" || fail "multi-conn is not advertised"

# hold NAME CMDS...: qemu-io running CMDS, then staying connected (sleep)
# for up to a minute; its pid is ${held[NAME]}.
declare -A held
hold() {
  local name=$1 args=()
  shift
  for c in "$@"; do args+=(-c "$c"); done
  timeout 120 qemu-io -f raw -t writeback "${args[@]}" -c "sleep 60000" "$uri" \
    >"$dir/held-$name.out" 2>&1 &
  held[$name]=$!
  bg_pids+=($!)
}

step "a plain write on connection A is visible on connection B, no flush"
hold A "write -P 0x11 0 1M"
wait_for 60 "A's write" request_done "$log" "Write .*offset=0x0 count=0x100000 fua=0"
qio -c "read -P 0x11 0 1M"

step "a FUA write on connection C is visible on B while C stays connected"
hold C "write -f -P 0x22 1M 64k"
wait_for 60 "C's FUA write" request_done "$log" "Write .*offset=0x100000 count=0x10000 fua=1"
qio -c "read -P 0x22 1M 64k"

step "a flush on connection E covers the writes of A and D"
hold D "write -P 0x33 2M 1M"
wait_for 60 "D's write" request_done "$log" "Write .*offset=0x200000 count=0x100000 fua=0"
unflushed || fail "D's write should be unflushed before E's flush"
# held_flushed: true if A, C or D sent a flush.
held_flushed() {
  local c
  for c in $(conn_of "$log" "Write .*offset=0x0 count=0x100000 ") \
    $(conn_of "$log" "Write .*offset=0x100000 count=0x10000 ") \
    $(conn_of "$log" "Write .*offset=0x200000 count=0x100000 "); do
    grep -q "connection=$c Flush" "$log" && return 0
  done
  return 1
}
held_flushed && fail "A, C or D flushed"
qio -c "flush"
unflushed && fail "E's flush left acknowledged writes of other connections unflushed"

step "connection F writes (unflushed) and will flush after the restart"
timeout 120 qemu-io -f raw -t writeback -c "write -P 0x44 3M 64k" -c "sleep 20000" \
  -c "flush" "$uri" >"$dir/F.out" 2>&1 &
fpid=$!
bg_pids+=("$fpid")
wait_for 60 "F's write" request_done "$log" "Write .*offset=0x300000 count=0x10000 fua=0"
unflushed || fail "F's write should be unflushed before the kill"

step "SIGKILL writeboostd with A, C, D, F connected; restart it"
kill9_wbd
for n in A C D; do kill -9 "${held[$n]}"; wait "${held[$n]}" 2>/dev/null || true; done
held_flushed && fail "A, C or D flushed before the kill"
start_wbd
qio -c "read -P 0x11 0 1M" -c "read -P 0x22 1M 64k" -c "read -P 0x33 2M 1M"

step "F's flush after the restart fails (EIO), and says why"
set +e
wait "$fpid"
frc=$?
set -e
[[ $frc -ne 0 ]] || fail "F's flush succeeded across a restart:
$(cat "$dir/F.out")"
fconn=$(conn_of "$log" "Write .*offset=0x300000 count=0x10000 ")
grep -qE "connection=$fconn \.\.\.Flush id=[0-9]+ return=-1 error=EIO" "$log" ||
  fail "F's flush did not fail with EIO:
$(grep "connection=$fconn " "$log")
$(cat "$dir/F.out")"
grep -q "reopened volume $VOL (open generation" "$dir/nbdkit-nbd.log" ||
  fail "the plugin did not report the generation change:
$(tail -20 "$dir/nbdkit-nbd.log")"

step "new connections work normally after the restart"
qio -t writeback -c "write -P 0x55 4M 64k" -c "flush" -c "read -P 0x55 4M 64k"
echo PASS
