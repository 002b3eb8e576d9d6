#!/usr/bin/env bash
# The node image (docker/writeboostd), built from the host's binaries:
# - every binary and the NBD plugin find their libraries in the image;
# - it runs as uid 10001 in group disk, with every capability dropped and
#   no-new-privileges, on io_uring when seccomp allows it;
# - writeboostd serves its embedded default volume; wbctl on the host
#   (published port) and wbctl in a second container (unix socket on a
#   shared volume) write and read back each other's data; the metrics port
#   answers; the image's HEALTHCHECK passes;
# - the NBD bridge in the image (nbdkit writeboost) serves the same data
#   to qemu-io on the host;
# - `podman stop` (SIGTERM to writeboostd as PID 1) stops it cleanly, and
#   the data is there after a restart on the same data volume.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires podman qemu-io python3 cmp
wbctl=$BUILD/bin/wbctl
image=localhost/writeboost/writeboostd:test

step "build $image from $BUILD"
"$SRC/scripts/build-images.sh" --from-host --tag test writeboostd >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log"; fail "image build failed"; }

step "libraries, user"
check_ldd "$image" /usr/local/bin/writeboostd /usr/local/bin/wbctl \
  /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-writeboost-plugin.so
id=$(podman run --rm --no-healthcheck --entrypoint id "$image")
[[ $id == "uid=10001(writeboost) gid=10001(writeboost) groups=10001(writeboost),6(disk)" ]] ||
  fail "image user: $id"

step "start the node"
data=$run_id-data sock=$run_id-sock
podman volume create "$data" >/dev/null && pod_volumes+=("$data")
podman volume create "$sock" >/dev/null && pod_volumes+=("$sock")
# Plaintext on the container's own interface is safe here: the port is
# published on the host's loopback only.
node_args=(--cap-drop all --security-opt no-new-privileges
  --security-opt seccomp=unconfined
  -v "$data:/var/lib/writeboost" -v "$sock:/run/writeboost"
  -p 127.0.0.1::7200 -p 127.0.0.1::7201 "$image"
  --data-dir=/var/lib/writeboost --insecure
  --listen=0.0.0.0:7200,unix:/run/writeboost/writeboost.sock
  --metrics-listen=0.0.0.0:7201)
start_container node "${node_args[@]}"
node=$started
server=127.0.0.1:$(host_port "$node" 7200)
wait_serving "$server" writeboost.v1.BlockService 60
if [[ $(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0) == 0 ]]; then
  ! podman logs "$node" 2>&1 | grep -q "io_uring unavailable" ||
    fail "io_uring unavailable in the container although seccomp allows it"
fi

step "write from the host, read back in a second container"
python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(262144))' >"$dir/a"
"$wbctl" --server "$server" write default --offset 1M --file "$dir/a" --fua
client=(podman run --rm -i --no-healthcheck -v "$sock:/run/writeboost" --entrypoint wbctl "$image"
  --server unix:/run/writeboost/writeboost.sock)
"${client[@]}" read default --offset 1M --length 256K >"$dir/a.read"
cmp "$dir/a" "$dir/a.read" || fail "the second container read other data"

step "write from the second container, read back on the host"
python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(131072))' >"$dir/b"
"${client[@]}" write default --offset 8M --fua <"$dir/b"
"$wbctl" --server "$server" read default --offset 8M --length 128K --file "$dir/b.read"
cmp "$dir/b" "$dir/b.read" || fail "the host read other data"
"$wbctl" --server "$server" write default --offset 16M --length 64K --fill 0x5a --fua

step "metrics and the image's health check"
metrics=$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
  "http://127.0.0.1:$(host_port "$node" 7201)/metrics")
grep -q '^writeboost_' <<<"$metrics" || fail "no writeboost_ metrics on the metrics port"
podman healthcheck run "$node" >/dev/null || fail "the image's HEALTHCHECK failed"

step "the NBD bridge in the image, read by qemu-io on the host"
start_container nbd --cap-drop all --security-opt no-new-privileges \
  -v "$sock:/run/writeboost" -p 127.0.0.1::10809 --entrypoint nbdkit "$image" \
  --foreground writeboost \
  server=unix:/run/writeboost/writeboost.sock volume=default
nbd=$started
nbd_url=nbd://127.0.0.1:$(host_port "$nbd" 10809)
out=
for _ in $(seq 40); do
  out=$(qemu-io -f raw -r -c 'read -P 0x5a 16M 64k' "$nbd_url" 2>&1) && break
  sleep 0.5
done
grep -q "read 65536/65536 bytes" <<<"$out" || fail "qemu-io through the bridge: $out"

step "SIGTERM stops the node cleanly; the data survives a restart"
stop_containers -t 30 "$nbd" "$node"
rc=$(podman inspect --format '{{.State.ExitCode}}' "$node")
[[ $rc == 0 ]] || fail "writeboostd exited $rc on SIGTERM"
podman logs "$node" 2>&1 | grep -q "stopped cleanly" || fail "no clean stop in the log"
podman rm "$node" >/dev/null
start_container node2 "${node_args[@]}"
node=$started
server=127.0.0.1:$(host_port "$node" 7200)
wait_serving "$server" writeboost.v1.BlockService 60
"$wbctl" --server "$server" read default --offset 1M --length 256K --file "$dir/a.again"
cmp "$dir/a" "$dir/a.again" || fail "data lost across the restart"
echo "PASS"
