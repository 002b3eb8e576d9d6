# Shared set-up of the node's shell tests, sourced after `set -euo pipefail`
# with SCRATCH_NAME set: checks the tools, makes a scratch directory ($dir,
# removed on exit with the daemon in $pid killed), picks a free loopback
# port ($server), and defines fail (prints the daemon log), json,
# wait_serving and stop.

: "${WRITEBOOSTD:?set WRITEBOOSTD to the writeboostd binary}"
: "${WBCTL:?set WBCTL to the wbctl binary}"
command -v python3 >/dev/null || { echo "FAIL: python3 is missing (scripts/install-deps.sh installs it)"; exit 1; }

dir=$(mktemp -d "/var/tmp/wbnode-$SCRATCH_NAME-XXXXXX")
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- daemon log:" >&2; cat "$dir/daemon.log" >&2; exit 1; }
# json EXPR: evaluates a Python expression over the JSON on stdin (as d).
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server="127.0.0.1:$port"

# wait_serving VOLUME [WBCTL_ARGS...]: waits up to 10 s until
# `wbctl WBCTL_ARGS status VOLUME` says the volume serves.
wait_serving() {
  local volume=$1 state
  shift
  for _ in $(seq 100); do
    state=$("$WBCTL" "$@" status "$volume" --json 2>/dev/null | json 'd["state"]' 2>/dev/null || true)
    [[ "$state" == VOLUME_STATE_SERVING ]] && return 0
    sleep 0.1
  done
  fail "daemon did not start"
}
# stop: SIGTERMs the daemon in $pid; it must exit 0.
stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "daemon exited with $?"
  pid=""
}
