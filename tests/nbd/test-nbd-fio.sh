#!/usr/bin/env bash
# fio's nbd engine against the plugin, every job with verify=crc32c:
#   1. random 4K writes (with flushes), then read back and verified;
#   2. random writes of mixed sizes, 512 B to 2 MiB (above the server's
#      1 MiB payload limit, so the plugin splits them);
#   3. two jobs at once (two NBD connections, two gRPC streams);
#   4. verify_only again on a new connection: the data is still there; then
#      a 4K overwrite behind fio's back must make verify_only fail (the
#      checks above can fail);
#   5. a daemon whose payload limit (256 KiB) is below what libwbclient
#      packs into one message.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires fio qemu-io
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }

WB_VOLUME_OPTS="origin_size=512M,cache_size=256M"
start_wbd
start_nbdkit nbd

# run_fio NAME ARGS...: runs fio (JSON to $dir/NAME.json), fails on any
# error, prints write/read IOPS.
run_fio() {
  local name=$1
  shift
  timeout 150 fio --name="$name" --ioengine=nbd --uri="$uri" --randrepeat=1 \
    --verify=crc32c --verify_fatal=1 --do_verify=1 \
    --output-format=json --output="$dir/$name.json" "$@" ||
    fail "fio $name failed: $(cat "$dir/$name.json" 2>/dev/null | tail -30)"
  python3 - "$dir/$name.json" "$name" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
bad = [(x["jobname"], x["error"]) for x in j["jobs"] if x["error"] != 0]
if bad:
    sys.exit("FAIL: fio errors %s" % bad)
w = sum(x["write"]["iops"] for x in j["jobs"])
r = sum(x["read"]["iops"] for x in j["jobs"])
wb = sum(x["write"]["io_bytes"] for x in j["jobs"])
rb = sum(x["read"]["io_bytes"] for x in j["jobs"])
if wb == 0 or rb < wb:
    sys.exit("FAIL: wrote %d bytes, verified %d" % (wb, rb))
print("%s: write %.0f IOPS, verify-read %.0f IOPS, %d MiB written and verified"
      % (sys.argv[2], w, r, wb >> 20))
PY
}

step "random 4K writes, flush every 256 writes, then verify"
run_fio rand4k --rw=randwrite --bs=4k --iodepth=16 --size=32M --offset=0 --fsync=256

step "random writes of mixed sizes (512 B .. 2 MiB), then verify"
run_fio mixed --rw=randwrite --bssplit=512/10:4k/40:16k/20:64k/15:256k/10:2m/5 \
  --iodepth=8 --size=64M --offset=64M --fsync=64

step "two connections at once, each on its own region"
run_fio twoconn --rw=randwrite --bs=4k --iodepth=16 --size=32M --offset=192M \
  --offset_increment=32M --numjobs=2 --group_reporting=0

step "verify_only on a new connection, then a corrupted block must be caught"
run_fio rand4k --rw=randwrite --bs=4k --iodepth=16 --size=32M --offset=0 --verify_only
timeout 60 qemu-io -f raw -c "write -P 0x77 12M 4k" "$uri" >/dev/null || fail "qemu-io write"
if timeout 150 fio --name=rand4k --ioengine=nbd --uri="$uri" --randrepeat=1 \
  --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --iodepth=16 --size=32M \
  --offset=0 --verify_only >"$dir/corrupt.out" 2>&1; then
  fail "fio verify_only passed over a corrupted block"
fi
grep -qi "verify\|bad" "$dir/corrupt.out" || fail "fio failed, but not on verify:
$(tail -20 "$dir/corrupt.out")"
step "a server with a payload limit under 1 MiB (libwbclient batches up to 1 MiB)"
stop_wbd
WB_ARGS=(--max-payload 256K)
start_wbd
start_nbdkit small
run_fio small --rw=randwrite --bssplit=4k/40:64k/40:1m/20 --iodepth=16 --size=16M --offset=256M
echo PASS
