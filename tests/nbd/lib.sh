# Shared helpers of the NBD bridge tests (sourced after `set -euo pipefail`).
#
# Environment (set by ctest, tests/nbd/CMakeLists.txt):
#   WRITEBOOSTD  the daemon            NBD_PLUGIN  nbdkit-writeboost-plugin.so
#   WB_STATUS    wb_nbd_status (admin status as JSON)
#
# Every process a test starts has a bounded lifetime (a watchdog kills it
# after WB_LIFETIME seconds) and is cleaned up on exit, with mounts, loop
# devices and FUSE mounts, even when the test fails. Exit 77 = skipped.

: "${WRITEBOOSTD:?set WRITEBOOSTD to build/bin/writeboostd}"
: "${NBD_PLUGIN:?set NBD_PLUGIN to build/lib/nbdkit-writeboost-plugin.so}"
: "${WB_STATUS:?set WB_STATUS to build/bin/wb_nbd_status}"
WB_LIFETIME=${WB_LIFETIME:-600}

requires() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/install-deps.sh installs it)"; exit 1; }
  done
}
requires nbdkit python3 timeout
[[ -x $WRITEBOOSTD && -f $NBD_PLUGIN && -x $WB_STATUS ]] ||
  { echo "FAIL: WRITEBOOSTD, NBD_PLUGIN or WB_STATUS is not built" >&2; exit 1; }

# A real filesystem (not tmpfs) for the daemon's files.
dir=$(mktemp -d -p /var/tmp wbnbd-test.XXXXXX)
cleanup_hooks=()   # run in reverse order
bg_pids=()         # killed (-9) at exit
watchdogs=()       # watch_pid subshells: they and their sleep are killed
cleanup() {
  local rc=$? i
  set +e
  for ((i = ${#cleanup_hooks[@]} - 1; i >= 0; i--)); do eval "${cleanup_hooks[$i]}"; done
  for i in "${bg_pids[@]}"; do kill -9 "$i" 2>/dev/null; done
  for i in "${bg_pids[@]}"; do wait "$i" 2>/dev/null; done
  for i in "${watchdogs[@]}"; do pkill -9 -P "$i" 2>/dev/null; kill -9 "$i" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for i in "$dir"/*.log; do
      [[ -f $i ]] || continue
      echo "=== tail of $i"
      tail -n 25 "$i"
    done
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $(date +%T) $*"; }

# watch PID: kills PID after WB_LIFETIME seconds whatever happens.
watch_pid() {
  (
    sleep "$WB_LIFETIME"
    kill -9 "$1" 2>/dev/null
  ) >/dev/null 2>&1 &
  watchdogs+=($!)
  disown $!
}

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "timed out after ${secs}s waiting for $what"
}

# ---------------------------------------------------------------- daemon

WB_ENDPOINT="unix:$dir/wb.sock"
VOL=v
# Volume spec extras (tunables) for start_wbd; origin and cache files are
# created on the first start.
WB_VOLUME_OPTS=${WB_VOLUME_OPTS:-origin_size=512M,cache_size=512M}
WB_ARGS=(--max-payload 1M --metrics-listen none)
wbd_pid=

# start_wbd: starts writeboostd on $WB_ENDPOINT and waits until the volume
# serves (after a kill this includes its log replay).
start_wbd() {
  "$WRITEBOOSTD" --listen "$WB_ENDPOINT" "${WB_ARGS[@]}" \
    --volume "name=$VOL,origin=$dir/$VOL.origin,cache=$dir/$VOL.cache,$WB_VOLUME_OPTS" \
    >>"$dir/writeboostd.log" 2>&1 &
  wbd_pid=$!
  bg_pids+=("$wbd_pid")
  watch_pid "$wbd_pid"
  "$WB_STATUS" "$WB_ENDPOINT" "$VOL" 120 >/dev/null ||
    fail "writeboostd did not come up (see writeboostd.log)"
}

# kill9_wbd: SIGKILL, no chance to seal or flush anything.
kill9_wbd() {
  kill -9 "$wbd_pid"
  wait "$wbd_pid" 2>/dev/null || true
}

stop_wbd() {
  kill -TERM "$wbd_pid"
  wait "$wbd_pid" || fail "writeboostd did not stop cleanly"
}

# status FIELD: one field of the volume's admin status (as a string).
status() {
  "$WB_STATUS" "$WB_ENDPOINT" "$VOL" 30 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# unflushed: true when the daemon holds acknowledged data that is not yet
# durable. current_id is the newest segment (a buffer is opened only by a
# write), last_flushed_id the newest one made durable by a cache flush.
unflushed() {
  local st
  st=$("$WB_STATUS" "$WB_ENDPOINT" "$VOL" 30) || return 1
  python3 -c '
import json, sys
j = json.loads(sys.argv[1])
c, f = int(j["current_id"]), int(j["last_flushed_id"])
print("current_id=%d last_flushed_id=%d nr_dirty_cache_blocks=%s" % (c, f, j["nr_dirty_cache_blocks"]))
sys.exit(0 if c > f else 1)' "$st"
}

# An ASan build's plugin is loaded by an nbdkit that is not: the sanitizer's
# runtime must then be preloaded into nbdkit (make test-asan). Exported, so
# that nbdkit started by wbctl attach-nbd gets it too.
asan_runtime=$(ldd "$NBD_PLUGIN" 2>/dev/null | awk '/libasan/ {print $3}')
if [[ -n $asan_runtime ]]; then
  export WB_NBDKIT_ENV="LD_PRELOAD=$asan_runtime ASAN_OPTIONS=detect_leaks=0"
else
  export WB_NBDKIT_ENV=""
fi

# ---------------------------------------------------------------- nbdkit

# start_nbdkit NAME [nbdkit args...] [-- plugin args...]: serves the volume
# on $dir/NAME.sock; sets nbdkit_pid and uri.
start_nbdkit() {
  local name=$1 pre=() post=()
  shift
  while [[ $# -gt 0 && $1 != -- ]]; do pre+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  post=("$@")
  rm -f "$dir/$name.sock"
  env $WB_NBDKIT_ENV nbdkit -f --exit-with-parent -U "$dir/$name.sock" "${pre[@]}" "$NBD_PLUGIN" \
    server="$WB_ENDPOINT" volume="$VOL" "${post[@]}" >>"$dir/nbdkit-$name.log" 2>&1 &
  nbdkit_pid=$!
  bg_pids+=("$nbdkit_pid")
  watch_pid "$nbdkit_pid"
  wait_for 30 "nbdkit socket $name" test -S "$dir/$name.sock"
  uri="nbd+unix:///?socket=$dir/$name.sock"
}

# qio ARGS...: qemu-io on $uri, bounded, failing the test on a non-zero exit.
qio() {
  timeout 120 qemu-io -f raw "$@" "$uri" >"$dir/qemu-io.out" 2>&1 ||
    fail "qemu-io $* failed:
$(cat "$dir/qemu-io.out")"
}

# request_done LOG REGEX: true once the request logged (nbdkit log filter)
# on a line matching REGEX has returned successfully.
request_done() {
  python3 - "$1" "$2" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    m = re.search(r"connection=(\d+) (\w+) id=(\d+) ", line)
    if m and re.search(sys.argv[2], line):
        done = "connection=%s ...%s id=%s return=0" % m.groups()
        sys.exit(0 if any(done in l for l in lines) else 1)
sys.exit(1)
PY
}

# conn_of LOG REGEX: the NBD connection number of the first logged request
# matching REGEX.
conn_of() {
  grep -m1 -E "$2" "$1" | sed -E 's/.*connection=([0-9]+) .*/\1/'
}
