#!/usr/bin/env bash
# A real filesystem on the NBD bridge, and SIGKILL of writeboostd under it.
#
#   writeboostd <- nbdkit + plugin <- nbdfuse (4 connections, multi-conn)
#     <- FUSE file <- losetup (direct I/O) <- ext4
#
# Each round copies a tree of files, syncs (ext4 journal commit: flush and
# FUA down the whole stack) and records checksums; then keeps writing
# without syncing, freezes nbdkit, checks from the daemon's status that
# acknowledged data is not yet durable (current_id > last_flushed_id), and
# SIGKILLs writeboostd. After a restart and reattach: mount once (journal
# replay), unmount, e2fsck -f -n must be clean, remount, and every file
# synced in any round must have its checksum.
#
# Odd rounds keep writing hard (buffered copies and O_DIRECT writes): the
# daemon seals and writes segments on its own, so they test the filesystem
# under a crash in the middle of heavy I/O. Even rounds write only 64 KiB
# after the sync: the synced data may still sit in the daemon's open RAM
# buffer, so only a flush that really travelled ext4 -> loop -> FUSE fsync
# -> nbdfuse -> plugin -> writeboostd keeps it (a plugin whose flush does
# nothing fails these rounds; periodic sealing is off for that reason).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires nbdfuse fusermount3 losetup mkfs.ext4 e2fsck mount umount sha256sum
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (loop devices, mount)"; exit 77; }
[[ -c /dev/fuse ]] || { echo "SKIP: no /dev/fuse"; exit 77; }
losetup -f >/dev/null 2>&1 || { echo "SKIP: no free loop device"; exit 77; }
ROUNDS=${ROUNDS:-3}

WB_VOLUME_OPTS="origin_size=1G,cache_size=512M,segment_size=4M,sync_data_interval=0,writeback_threshold=0"
mkdir -p "$dir/fuse" "$dir/mnt" "$dir/src"
# The tree synced each round: headers (many small files) and a few larger
# random files.
cp -a /usr/include/linux "$dir/src/headers"
for i in 1 2 3; do head -c $((i * 3 << 20)) /dev/urandom >"$dir/src/blob$i"; done
: >"$dir/sums"

loop=
fuse_pid=
mounted=0
writers=()

# attach: nbdkit, nbdfuse, loop device ($loop).
attach() {
  start_nbdkit nbd
  rm -f "$dir/nbdfuse.pid"
  nbdfuse -P "$dir/nbdfuse.pid" "$dir/fuse/disk" --unix "$dir/nbd.sock" \
    >>"$dir/nbdfuse.log" 2>&1 &
  fuse_pid=$!
  bg_pids+=("$fuse_pid")
  watch_pid "$fuse_pid"
  wait_for 30 "nbdfuse" test -s "$dir/nbdfuse.pid"
  loop=$(losetup -f --show --direct-io=on "$dir/fuse/disk")
}

# detach: undoes attach and mount, whatever state they are in (after a
# kill the device returns errors; nothing may hang). With "lazy" (the exit
# trap) it never fails and falls back to lazy unmounts.
detach() {
  local lazy=${1:-} w
  # nbdkit first: writers blocked on I/O it holds (frozen) die only once
  # their I/O fails.
  if [[ -n ${nbdkit_pid:-} ]] && kill -0 "$nbdkit_pid" 2>/dev/null; then
    kill -9 "$nbdkit_pid"
    wait "$nbdkit_pid" 2>/dev/null || true
  fi
  for w in "${writers[@]}"; do kill -9 -- "-$w" 2>/dev/null || true; done
  for w in "${writers[@]}"; do wait "$w" 2>/dev/null || true; done
  writers=()
  if [[ $mounted -eq 1 ]]; then
    if ! umount_retry; then
      umount -l "$dir/mnt"
      mounted=0
      [[ -n $lazy ]] || fail "umount failed for 60 s (after the kill)"
    fi
    mounted=0
  fi
  if [[ -n $loop ]]; then
    timeout 60 losetup -d "$loop" || [[ -n $lazy ]] || fail "losetup -d $loop failed"
    loop=
  fi
  if [[ -n $fuse_pid ]]; then
    # The loop device lets go of the FUSE file a moment after losetup -d.
    local t unmounted=0
    for t in 1 2 3 4 5 6 7 8 9 10; do
      if timeout 30 fusermount3 -u "$dir/fuse" 2>"$dir/fusermount.err"; then
        unmounted=1
        break
      fi
      sleep 1
    done
    if [[ $unmounted -eq 0 ]]; then
      cat "$dir/fusermount.err" >&2
      kill -9 "$fuse_pid" 2>/dev/null
      fusermount3 -u -z "$dir/fuse"
      [[ -n $lazy ]] || fail "fusermount3 -u failed"
    fi
    wait "$fuse_pid" 2>/dev/null || true
    fuse_pid=
  fi
}
cleanup_hooks+=('detach lazy')

# umount_retry: unmounts $dir/mnt, retrying for up to 60 s while it is
# busy (a killed writer's children, cp and dd, may still be finishing their
# failed I/O for a moment after their group leader is gone); prints who
# holds it when it gives up.
umount_retry() {
  local p end=$((SECONDS + 60))
  while ((SECONDS < end)); do
    timeout 30 umount "$dir/mnt" 2>"$dir/umount.err" && return 0
    for p in $(fuser -m "$dir/mnt" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.5
  done
  echo "umount: $(cat "$dir/umount.err"); users of the mount:" >&2
  fuser -vm "$dir/mnt" >&2 || true
  return 1
}

mnt() {
  timeout 120 mount -t ext4 "$loop" "$dir/mnt" || fail "mount $loop failed"
  mounted=1
}
umnt() {
  umount_retry || fail "umount failed for 60 s"
  mounted=0
}

# verify_sums: every file recorded so far reads back with its checksum.
verify_sums() {
  local n
  n=$(wc -l <"$dir/sums")
  if ! (cd "$dir/mnt" && timeout 120 sha256sum --quiet -c "$dir/sums") >"$dir/sums.out" 2>&1; then
    fail "$(grep -c FAILED "$dir/sums.out") of $n files synced before a kill changed or vanished:
$(head -n 20 "$dir/sums.out")"
  fi
  echo "verified $n synced files"
}

step "start, attach, mkfs.ext4"
start_wbd
attach
timeout 120 mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loop" ||
  fail "mkfs.ext4"
mnt

for ((round = 1; round <= ROUNDS; round++)); do
  step "round $round: copy a tree, sync, record checksums"
  cp -a "$dir/src" "$dir/mnt/synced$round"
  before=$(status current_id)
  sync
  # The journal commit's flush reached the daemon: everything it held
  # before the sync is durable (the kernel may write more after it).
  after=$(status last_flushed_id)
  [[ $after -ge $before ]] ||
    fail "sync did not make the daemon durable: current_id $before before, last_flushed_id $after after"
  (cd "$dir/mnt" && find "synced$round" -type f -print0 | xargs -0 sha256sum) >>"$dir/sums"
  (cd "$dir/src" && sha256sum --quiet -c <(sed -n "s| synced$round/| |p" "$dir/sums")) ||
    fail "the copy differs from its source"

  mkdir -p "$dir/mnt/unsynced$round"
  if ((round % 2 == 1)); then
    step "round $round: keep writing hard (not synced), then SIGKILL writeboostd"
    # Each writer is a process group of its own (setsid), killed as a whole.
    setsid bash -c 'for i in 1 2 3 4 5 6 7 8; do cp -a /usr/include/c++ "$1/c$i" || exit 0; done' \
      _ "$dir/mnt/unsynced$round" 2>/dev/null &
    writers+=($!)
    setsid bash -c 'for i in $(seq 1 200); do
        dd if=/dev/urandom of="$1/direct$i" bs=64k count=16 oflag=direct status=none || exit 0
      done' _ "$dir/mnt/unsynced$round" 2>/dev/null &
    writers+=($!)
    sleep 2
  else
    step "round $round: write 64 KiB (not synced), then SIGKILL writeboostd"
    dd if=/dev/urandom of="$dir/mnt/unsynced$round/small" bs=64k count=1 oflag=direct \
      status=none || fail "dd"
  fi
  # Freeze the NBD server so that nothing more reaches the daemon, then
  # prove that acknowledged data is still in its RAM buffers.
  tries=0
  while true; do
    kill -STOP "$nbdkit_pid"
    if unflushed; then break; fi
    kill -CONT "$nbdkit_pid"
    ((++tries < 20)) || fail "never caught the daemon with unflushed data"
    sleep 0.5
  done
  kill9_wbd
  echo "writeboostd killed (round $round)"
  detach

  step "round $round: restart, reattach, replay the journal, fsck, verify"
  start_wbd
  attach
  mnt
  umnt
  timeout 120 e2fsck -f -n "$loop" >"$dir/fsck.out" 2>&1 ||
    fail "e2fsck -f -n after round $round is not clean:
$(cat "$dir/fsck.out")"
  mnt
  verify_sums
done

step "clean shutdown"
detach
stop_wbd
echo PASS
