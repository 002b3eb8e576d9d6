#!/usr/bin/env bash
# wbctl's offline commands (format, check, dump, drain) on files, with no
# server: the happy path, every refusal, corruption found by check, and a
# drain whose result is compared byte for byte with the expected origin.
#
# Usage: test-cli-offline.sh PATH/TO/wbctl PATH/TO/wb_write_helper
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cache=$dir/cache
origin=$dir/origin
truncate -s 64M "$origin"
cp "$origin" "$dir/origin.orig"

step "usage errors exit 2 with one line"
expect 0 "$WBCTL" --version
contains "$out" "wbctl " "--version"
expect 2 "$WBCTL"
one_error_line
expect 2 "$WBCTL" check
one_error_line
contains "$err" "--cache is required" "missing --cache"
expect 2 "$WBCTL" no-such-command
one_error_line

step "format"
expect 0 "$WBCTL" format --cache "$cache" --cache-size 32M --origin "$origin"
contains "$out" "cache set uuid:" "format summary"
contains "$out" "origin identity:" "format summary"
contains "$out" "512 KiB" "default segment size"
[[ $(stat -c %s "$cache") -eq $((32 << 20)) ]] || fail "cache file is not 32 MiB"
cmp -s "$origin" "$dir/origin.orig" || fail "format wrote into the origin"

step "check a fresh cache"
expect 0 "$WBCTL" check --cache "$cache"
contains "$out" "result: consistent" "check"
contains "$out" "copy 0 (block 1):" "check shows progress copies"
expect 0 "$WBCTL" check --cache "$cache" --json
[[ $(json "j['consistent']") == True ]] || fail "check --json: not consistent"
[[ $(json "j['log']['segments']") == 0 ]] || fail "fresh cache has segments"
[[ $(json "[c['valid'] for c in j['progress']['copies']]") == "[True, True]" ]] ||
  fail "fresh cache: both progress copies should be valid"
expect 0 "$WBCTL" check --cache "$cache" --origin "$origin"

step "dump"
expect 0 "$WBCTL" dump --cache "$cache"
contains "$out" "superblock:" "dump"
contains "$out" "progress record:" "dump"
contains "$out" "writeback_threshold:" "dump shows tunables"
expect 0 "$WBCTL" dump --cache "$cache" --json
[[ $(json "j['superblock']['segment_size']") == 524288 ]] || fail "dump --json segment_size"
uuid1=$(json "j['superblock']['uuid']")

step "a second format is refused without --force"
expect 1 "$WBCTL" format --cache "$cache" --origin "$origin"
one_error_line
contains "$err" "already holds a writeboost cache" "refusal"
contains "$err" "--force" "refusal names --force"
expect 0 "$WBCTL" format --cache "$cache" --origin "$origin" --force --segment-size 1M
contains "$err" "overwriting" "--force warns"
expect 0 "$WBCTL" dump --cache "$cache" --json
[[ $(json "j['superblock']['uuid']") != "$uuid1" ]] || fail "--force kept the old uuid"
[[ $(json "j['superblock']['segment_size']") == 1048576 ]] || fail "--segment-size 1M not applied"
[[ $(json "j['superblock']['meta_blocks']") == 2 ]] || fail "1M segments need 2 meta blocks"

step "bad sizes are refused with the valid range"
for bad in 100K 8M 32K abc 1X; do
  expect 2 "$WBCTL" format --cache "$cache" --origin "$origin" --force --segment-size "$bad"
  one_error_line
  contains "$err" "--segment-size" "bad segment size $bad"
done
expect 2 "$WBCTL" format --cache "$cache" --origin "$origin" --force --segment-size 100K
contains "$err" "power of two from 64K to 4M" "range in the message"
expect 2 "$WBCTL" format --cache "$dir/new" --cache-size 1000 --origin "$origin"
contains "$err" "--cache-size" "bad cache size"
expect 1 "$WBCTL" format --cache "$dir/small" --cache-size 1M --origin "$origin"
one_error_line
contains "$err" "too small" "tiny cache"
expect 2 "$WBCTL" format --cache "$origin" --origin "$origin"
contains "$err" "same device" "cache == origin"
expect 0 "$WBCTL" check --cache "$cache"  # the refusals left the cache alone

step "a cache in use is refused"
expect 1 flock "$cache" "$WBCTL" check --cache "$cache"
one_error_line
contains "$err" "in use" "lock held"

step "drain an empty cache"
expect 0 "$WBCTL" drain --cache "$cache" --origin "$origin"
contains "$out" "cache blocks written back:" "drain report"
contains "$out" "dirty blocks left:" "drain report"
[[ $out == *"cache blocks written back:"*" 0 "* ]] || fail "empty drain wrote blocks: $out"
cmp -s "$origin" "$dir/origin.orig" || fail "drain of an empty cache changed the origin"

step "dirty data through the core, then check and dump"
"$HELPER" write "$cache" "$origin" 7 300 || fail "wb_write_helper write failed"
cmp -s "$origin" "$dir/origin.orig" || fail "data reached the origin without writeback"
expect 0 "$WBCTL" check --cache "$cache" --json
[[ $(json "j['log']['segments'] > 1") == True ]] || fail "expected several dirty segments"
[[ $(json "j['log']['distinct_dirty_blocks'] > 100") == True ]] || fail "expected dirty blocks"
[[ $(json "j['log']['torn_tail']") == False ]] || fail "clean close left a torn tail"
[[ $(json "j['log']['segments_data_checked'] == j['log']['segments']") == True ]] ||
  fail "check did not verify every segment's data"
data_blocks=$(json "j['log']['data_blocks']")
expect 0 "$WBCTL" dump --cache "$cache" --list --json
last=$(json "j['segments'][-1]['id']")
last_pos=$(json "j['segments'][-1]['pos']")
first_pos=$(json "j['segments'][0]['pos']")
meta=$(json "j['superblock']['meta_blocks']")
expect 0 "$WBCTL" dump --cache "$cache" --segment "$last"
contains "$out" "DIRTY" "dump --segment"
contains "$out" "status:" "dump --segment"
[[ $out != *"CRC MISMATCH"* ]] || fail "dump --segment reports a bad crc on a clean cache"
expect 1 "$WBCTL" dump --cache "$cache" --segment $((last + 5))
one_error_line
contains "$err" "not in the log" "dump of a missing segment"

step "check finds corruption"
# Byte offset of the first data block of the segment at ring position p.
data_off() { echo $(((256 + $1 + meta) * 4096 + 100)); }
cp "$cache" "$dir/torn"
corrupt "$dir/torn" "$(data_off "$last_pos")"
expect 0 "$WBCTL" check --cache "$dir/torn"
contains "$out" "torn tail" "torn last segment is reported"
contains "$out" "result: consistent" "torn tail is normal after a crash"
expect 0 "$WBCTL" check --cache "$dir/torn" --json
[[ $(json "j['log']['torn_tail']") == True ]] || fail "check --json: torn_tail"
[[ $(json "j['log']['last_id']") == $((last - 1)) ]] || fail "torn segment not cut"

cp "$cache" "$dir/lost"
corrupt "$dir/lost" "$(data_off "$first_pos")"
expect 1 "$WBCTL" check --cache "$dir/lost"
one_error_line
contains "$err" "durable segment" "corrupt durable segment"
expect 1 "$WBCTL" check --cache "$dir/lost" --json
[[ $(json "j['consistent']") == False ]] || fail "check --json on data loss"

cp "$cache" "$dir/prog"
corrupt "$dir/prog" $((4096 + 100))
expect 0 "$WBCTL" check --cache "$dir/prog"
contains "$out" "INVALID" "one bad progress copy is shown"
corrupt "$dir/prog" $((8192 + 100))
expect 1 "$WBCTL" check --cache "$dir/prog"
one_error_line
contains "$err" "both progress records are corrupt" "both progress copies"

cp "$cache" "$dir/sb"
corrupt "$dir/sb" 100
expect 1 "$WBCTL" check --cache "$dir/sb"
one_error_line
contains "$err" "superblock checksum mismatch" "corrupt superblock"
expect 1 "$WBCTL" check --cache "$origin"
contains "$err" "not a writeboost cache" "check of a non-cache"

step "drain refuses the wrong origin"
truncate -s 64M "$dir/other"
expect 1 "$WBCTL" drain --cache "$cache" --origin "$dir/other"
one_error_line
contains "$err" "wrong origin" "origin without identity"
# An origin that has an identity, but another one.
expect 0 "$WBCTL" format --cache "$dir/cache2" --cache-size 8M --origin "$dir/other"
expect 1 "$WBCTL" drain --cache "$cache" --origin "$dir/other"
contains "$err" "wrong origin" "origin of another cache"
expect 1 "$WBCTL" check --cache "$cache" --origin "$dir/other"
contains "$err" "wrong origin" "check --origin"
cmp -s "$origin" "$dir/origin.orig" || fail "a refused drain touched the origin"
cmp -s "$dir/other" "$origin" || fail "a refused drain wrote into the wrong origin"

step "drain writes the data back"
"$HELPER" expect "$dir/origin.orig" "$dir/expected" 7 300 || fail "wb_write_helper expect failed"
expect 0 "$WBCTL" drain --cache "$cache" --origin "$origin"
contains "$out" "cache blocks written back:" "drain report"
[[ $out == *"cache blocks written back:"*" $data_blocks ("* ]] ||
  fail "drain should report $data_blocks blocks: $out"
[[ $out == *"dirty blocks left:"*" 0"* ]] || fail "drain left dirty blocks: $out"
cmp "$origin" "$dir/expected" || fail "origin does not hold the written pattern after drain"
expect 0 "$WBCTL" check --cache "$cache" --json
[[ $(json "j['log']['segments']") == 0 ]] || fail "cache not clean after drain"

echo "PASS"
