#!/usr/bin/env bash
# nbdinfo against the plugin: size, flags, block sizes, export names, a
# read-only export and an unknown volume.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires nbdinfo qemu-io

step "writeboostd with a 512 MiB volume"
start_wbd
size=$(status size_bytes)
[[ $size -eq $((512 << 20)) ]] || fail "status size_bytes $size"
start_nbdkit nbd

step "size and flags"
got=$(timeout 30 nbdinfo --size "$uri")
[[ $got -eq $size ]] || fail "nbdinfo --size: $got, volume has $size"
for flag in fua flush trim multi-conn zero fast-zero; do
  timeout 30 nbdinfo --can "$flag" "$uri" || fail "nbdinfo --can $flag: exit $?"
done
timeout 30 nbdinfo --is read-only "$uri" && fail "export is read-only"
timeout 30 nbdinfo --is rotational "$uri" && fail "export claims to be rotational"

step "block size constraints"
timeout 30 nbdinfo --json "$uri" >"$dir/info.json"
python3 - "$dir/info.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {"block_size_minimum": 1, "block_size_preferred": 4096,
        "block_size_maximum": 32 << 20}
for k, v in want.items():
    if e.get(k) != v:
        sys.exit("FAIL: %s is %s, want %s" % (k, e.get(k), v))
if "writeboost volume v" not in e.get("description", ""):
    sys.exit("FAIL: description %r" % e.get("description"))
PY

step "max-request= is what is advertised"
start_nbdkit small -- max-request=4M
timeout 30 nbdinfo --json "$uri" | python3 -c '
import json, sys
m = json.load(sys.stdin)["exports"][0]["block_size_maximum"]
sys.exit(0 if m == 4 << 20 else "FAIL: block_size_maximum %s" % m)'

step "no volume=: the export name picks the volume"
rm -f "$dir/byname.sock"
env $WB_NBDKIT_ENV nbdkit -f --exit-with-parent -U "$dir/byname.sock" "$NBD_PLUGIN" server="$WB_ENDPOINT" \
  >>"$dir/nbdkit-byname.log" 2>&1 &
bg_pids+=($!)
wait_for 30 "nbdkit socket byname" test -S "$dir/byname.sock"
got=$(timeout 30 nbdinfo --size "nbd+unix:///$VOL?socket=$dir/byname.sock")
[[ $got -eq $size ]] || fail "export $VOL: size $got"
if timeout 30 nbdinfo --size "nbd+unix:///nosuchvolume?socket=$dir/byname.sock" \
  >"$dir/nosuch.out" 2>&1; then
  fail "an unknown volume was exported"
fi
grep -q "NOT_FOUND" "$dir/nbdkit-byname.log" ||
  fail "nbdkit did not log the server's NOT_FOUND:
$(cat "$dir/nbdkit-byname.log")"

step "nbdkit -r: read-only export"
start_nbdkit ro -r
timeout 30 nbdinfo --is read-only "$uri" || fail "nbdkit -r export is writable"

step "no server: the connection fails (UNAVAILABLE), nbdkit stays up"
rm -f "$dir/down.sock"
env $WB_NBDKIT_ENV nbdkit -f --exit-with-parent -U "$dir/down.sock" "$NBD_PLUGIN" server="unix:$dir/nothing.sock" \
  volume=v >>"$dir/nbdkit-down.log" 2>&1 &
down_pid=$!
bg_pids+=("$down_pid")
wait_for 30 "nbdkit socket down" test -S "$dir/down.sock"
if timeout 60 nbdinfo --size "nbd+unix:///?socket=$dir/down.sock" >/dev/null 2>&1; then
  fail "exported a volume with no server"
fi
grep -q "UNAVAILABLE" "$dir/nbdkit-down.log" || fail "no UNAVAILABLE: $(cat "$dir/nbdkit-down.log")"
kill -0 "$down_pid" || fail "nbdkit died"

step "bad parameters are refused at startup"
if timeout 30 env $WB_NBDKIT_ENV nbdkit --exit-with-parent -U "$dir/bad.sock" "$NBD_PLUGIN" nosuchkey=1 \
  --run true >"$dir/bad.out" 2>&1; then
  fail "unknown parameter accepted"
fi
grep -q "unknown parameter" "$dir/bad.out" || fail "no message: $(cat "$dir/bad.out")"
if timeout 30 env $WB_NBDKIT_ENV nbdkit --exit-with-parent -U "$dir/bad.sock" "$NBD_PLUGIN" tls-cert=/x \
  --run true >"$dir/bad.out" 2>&1; then
  fail "tls-cert without tls-key accepted"
fi
step "tokens: rw token writes, ro token exports read-only, none is refused"
stop_wbd
printf 'rwsecret rw %s\nrosecret ro %s\n' "$VOL" "$VOL" >"$dir/tokens"
printf 'rwsecret\n' >"$dir/rw.token"
WB_ARGS+=(--auth-tokens "$dir/tokens")
"$WRITEBOOSTD" --listen "$WB_ENDPOINT" "${WB_ARGS[@]}" \
  --volume "name=$VOL,origin=$dir/$VOL.origin,cache=$dir/$VOL.cache,$WB_VOLUME_OPTS" \
  >>"$dir/writeboostd.log" 2>&1 &
wbd_pid=$!
bg_pids+=("$wbd_pid")
start_nbdkit rw -- token=+"$dir/rw.token"
wait_for 60 "the daemon with tokens" timeout 10 nbdinfo --size "$uri"
timeout 30 nbdinfo --is read-only "$uri" && fail "the rw token gave a read-only export"
timeout 60 qemu-io -f raw -c "write -P 0x42 0 4k" -c "read -P 0x42 0 4k" -c flush "$uri" \
  >"$dir/rw.out" 2>&1 || fail "writing with the rw token: $(cat "$dir/rw.out")"
start_nbdkit rotoken -- token=rosecret
timeout 30 nbdinfo --is read-only "$uri" || fail "the ro token gave a writable export"
start_nbdkit notoken
if timeout 30 nbdinfo --size "$uri" >/dev/null 2>&1; then
  fail "no token, yet the volume was exported"
fi
grep -q "UNAUTHENTICATED" "$dir/nbdkit-notoken.log" ||
  fail "nbdkit did not log UNAUTHENTICATED: $(cat "$dir/nbdkit-notoken.log")"
grep -q "rwsecret\|rosecret" "$dir"/nbdkit-*.log && fail "a token was written to a log"
echo PASS
