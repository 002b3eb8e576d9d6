#!/usr/bin/env bash
# wbctl's online commands against a real writeboostd: ls, status, message,
# drop-caches, read, write, flush, format-volume, attach-volume,
# detach-volume, with --json, errors with their gRPC code, bearer tokens
# and a unix socket.
#   WRITEBOOSTD=... WBCTL=... tests/node/test-node-wbctl.sh
set -euo pipefail

SCRATCH_NAME=wbctl
. "$(dirname "$0")/script_setup.sh"
vol="name=v,origin=$dir/v.origin,cache=$dir/v.cache,origin_size=64M,cache_size=32M"

start() {  # start ARGS...: starts the daemon and waits until v serves
  "$WRITEBOOSTD" "$@" >>"$dir/daemon.log" 2>&1 &
  pid=$!
  wait_serving v "${wbctl_auth[@]}" --server "${wait_server:-$server}"
}
# expect_usage CMD...: the command fails with exit 2 (nothing sent).
expect_usage() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -eq 2 ]] || fail "$* exited $rc, want 2: $out"
}
# expect_error CODE CMD...: the command fails with exit 1 and names CODE.
expect_error() {
  local code=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -eq 1 ]] || fail "$* exited $rc, want 1: $out"
  [[ "$out" == *"wbctl: $code: "* ]] || fail "$* printed '$out', want $code"
}

wbctl_auth=()
start --listen "$server" --volume "$vol"
W=("$WBCTL" --server "$server")

# ls and status, human and JSON.
"${W[@]}" ls | grep -Eq '^v +64M +serving' || fail "ls: $("${W[@]}" ls)"
[[ $("${W[@]}" ls --json | json 'd[0]["size_bytes"]') == 67108864 ]] || fail "ls --json"
"${W[@]}" status v | grep -q 'read hit ratio' || fail "status lacks hit ratios"
"$WBCTL" status v --server "$server" >/dev/null || fail "options after the command"

# Messages: no autonomous writeback from here on, so data stays dirty.
"${W[@]}" message v writeback_threshold 0 | grep -q 'writeback_threshold = 0' || fail message
"${W[@]}" message v clear_stat >/dev/null || fail clear_stat

# write --file / read --file round trip, and a write from stdin.
head -c 1048576 /dev/urandom >"$dir/data"
"${W[@]}" write v --offset 1M --file "$dir/data" --fua | grep -q 'wrote 1 MiB' || fail write
"${W[@]}" read v --offset 1M --length 1M --file "$dir/back"
cmp "$dir/data" "$dir/back" || fail "read back differs"
head -c 4096 /dev/urandom | tee "$dir/small" | "${W[@]}" write v --offset 8K >/dev/null
"${W[@]}" read v --offset 8K --length 4K >"$dir/small.back"
cmp "$dir/small" "$dir/small.back" || fail "stdin write / stdout read differ"
[[ $("${W[@]}" read v --offset 8K --length 512 --json | json 'len(d["data_base64"])') == 684 ]] ||
  fail "read --json"
"${W[@]}" flush v | grep -q flushed || fail flush

# drop-caches and what status says afterwards.
[[ $("${W[@]}" status v --json | json 'd["nr_dirty_cache_blocks"] > 0') == True ]] ||
  fail "no dirty blocks before drop-caches"
"${W[@]}" drop-caches v | grep -q 'no dirty data left' || fail drop-caches
[[ $("${W[@]}" status v --json | json 'd["nr_dirty_cache_blocks"], d["dirty_percent"]') == "0 0.0" ]] ||
  fail "dirty after drop-caches"
"${W[@]}" read v --offset 1M --length 1M --file "$dir/back"
cmp "$dir/data" "$dir/back" || fail "data after drop-caches"

# Errors carry their gRPC code; the exit status is 1.
expect_error INVALID_ARGUMENT "${W[@]}" read v --offset 1 --length 512
expect_error INVALID_ARGUMENT "${W[@]}" write v --offset 0 --length 100 --fill 1
expect_error OUT_OF_RANGE "${W[@]}" read v --offset 64M --length 4K
expect_error NOT_FOUND "${W[@]}" status nope
expect_error NOT_FOUND "${W[@]}" message v no_such_tunable 1
expect_error OUT_OF_RANGE "${W[@]}" message v writeback_threshold 101
expect_error UNAVAILABLE "$WBCTL" --server 127.0.0.1:1 ls
stop

# Bearer tokens.
printf 'secret-rw rw v\nsecret-ro ro v\n' >"$dir/tokens"
wbctl_auth=(--token secret-ro)
start --listen "$server" --volume "$vol" --auth-tokens "$dir/tokens"
expect_error UNAUTHENTICATED "${W[@]}" ls
expect_error UNAUTHENTICATED "${W[@]}" --token wrong read v --length 4K
expect_error PERMISSION_DENIED "${W[@]}" --token secret-ro write v --fill 0 --length 4K
"${W[@]}" --token secret-ro read v --offset 1M --length 1M --file "$dir/back"
cmp "$dir/data" "$dir/back" || fail "read with a read-only token"
echo -n secret-rw >"$dir/tokfile"
"${W[@]}" --token-file "$dir/tokfile" write v --fill 7 --length 4K >/dev/null || fail "rw token"
stop

# A unix socket, and a clean restart keeping an unflushed write.
wbctl_auth=()
wait_server="unix:$dir/sock"
start --listen "unix:$dir/sock" --volume "$vol"
"$WBCTL" --server "unix:$dir/sock" write v --offset 2M --file "$dir/data" >/dev/null
stop
start --listen "unix:$dir/sock" --volume "$vol"
"$WBCTL" --server "unix:$dir/sock" read v --offset 2M --length 1M --file "$dir/back"
cmp "$dir/data" "$dir/back" || fail "unflushed write lost across a clean restart"
stop
# format-volume, attach-volume, detach-volume; what the node remembers
# across restarts.
# The daemon keeps volumes.json under --data-dir; the devices are in $dir,
# outside it, so $dir is an allowed path.
statedir="$dir/state"
wait_server=""
truncate -s 64M "$dir/w.origin"
truncate -s 32M "$dir/w.cache"
wspec=(w --origin "$dir/w.origin" --cache "$dir/w.cache")
start --listen "$server" --volume "$vol" --data-dir "$statedir" --allow-path "$dir"
expect_usage "${W[@]}" format-volume w --origin w.origin --cache "$dir/w.cache"
expect_usage "${W[@]}" attach-volume "${wspec[@]}" --set writeback_threshold
expect_usage "${W[@]}" detach-volume w --drain --force
expect_error INVALID_ARGUMENT "${W[@]}" format-volume "${wspec[@]}" --segment-size 100K
expect_error NOT_FOUND "${W[@]}" format-volume w --origin "$dir/w.origin" --cache "$dir/nope"
expect_error FAILED_PRECONDITION "${W[@]}" attach-volume "${wspec[@]}"  # not formatted
expect_error NOT_FOUND "${W[@]}" attach-volume w --origin "$dir/w.origin" --cache "$dir/nope"
out=$("${W[@]}" format-volume "${wspec[@]}" --set writeback_threshold=0 --attach --json)
[[ $(json 'd["state"], d["size_bytes"], d["formatted"], d["attached"]' <<<"$out") == \
   "VOLUME_STATE_SERVING 67108864 True True" ]] || fail "format-volume --json: $out"
expect_error ALREADY_EXISTS "${W[@]}" attach-volume "${wspec[@]}"
expect_error INVALID_ARGUMENT "${W[@]}" attach-volume x --origin "$dir/w.origin" --cache "$dir/w.cache" \
  --set no_such_tunable=1
"${W[@]}" write w --offset 4M --file "$dir/data" --fua >/dev/null
expect_error FAILED_PRECONDITION "${W[@]}" detach-volume w
"${W[@]}" ls | grep -Eq '^w +64M +serving' || fail "a refused detach changed w"
"${W[@]}" detach-volume w --drain | grep -q 'written back and detached' || fail "detach-volume --drain"
cmp <(dd if="$dir/w.origin" bs=1M skip=4 count=1 status=none) "$dir/data" ||
  fail "the origin lacks the data after detach --drain"
expect_error NOT_FOUND "${W[@]}" status w
expect_error FAILED_PRECONDITION "${W[@]}" format-volume "${wspec[@]}"  # formatted already
"${W[@]}" attach-volume "${wspec[@]}" | grep -q '^w: attached, serving 64 MiB' || fail attach-volume
"${W[@]}" write w --offset 0 --fill 0x5a --length 64K >/dev/null
stop
start --listen "$server" --volume "$vol" --data-dir "$statedir" --allow-path "$dir"
"${W[@]}" status w --json | json 'd["state"]' | grep -q SERVING || fail "w not back after restart"
"${W[@]}" read w --offset 0 --length 64K --file "$dir/back"
cmp "$dir/back" <(head -c 65536 /dev/zero | tr '\0' '\132') || fail "w lost a write across restart"
[[ $("${W[@]}" detach-volume w --force --json | json 'd["detached"], d["forced"]') == "True True" ]] ||
  fail "detach-volume --force --json"
stop
start --listen "$server" --volume "$vol" --data-dir "$statedir" --allow-path "$dir"
expect_error NOT_FOUND "${W[@]}" status w
[[ $("${W[@]}" ls --json | json '[v["name"] for v in d]') == "['v']" ]] || fail "w came back"
# Forced: the dirty write is still in the cache and replays at the next attach.
"${W[@]}" attach-volume "${wspec[@]}" >/dev/null
"${W[@]}" read w --offset 0 --length 64K --file "$dir/back"
cmp "$dir/back" <(head -c 65536 /dev/zero | tr '\0' '\132') || fail "forced detach lost data"
stop
echo PASS
