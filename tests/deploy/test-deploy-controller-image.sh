#!/usr/bin/env bash
# The controller image (docker/writeboost-controller), built from the
# host's binaries: its binaries find their libraries, it runs as uid 10001
# with every capability dropped, the gRPC health service answers from the
# host through the published port, the image's HEALTHCHECK (wbctl health)
# passes, the metrics port answers, and `podman stop` stops it cleanly.
# Nodes registering with it: test-deploy-chart-run.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires podman
wbctl=$BUILD/bin/wbctl
image=localhost/writeboost/writeboost-controller:test

step "build $image from $BUILD"
"$SRC/scripts/build-images.sh" --from-host --tag test writeboost-controller >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log"; fail "image build failed"; }

step "libraries, user"
check_ldd "$image" /usr/local/bin/writeboost-controller /usr/local/bin/wbctl
id=$(podman run --rm --no-healthcheck --entrypoint id "$image")
[[ $id == "uid=10001(writeboost) gid=10001(writeboost) groups=10001(writeboost)" ]] ||
  fail "image user: $id"

step "start the controller"
printf '{"groups": {"san-a": {"capacity_bytes_per_second": 104857600}}}\n' >"$dir/controller.json"
chmod 0644 "$dir/controller.json"
start_container ctl --cap-drop all --security-opt no-new-privileges \
  -v "$dir/controller.json:/etc/writeboost/controller.json:ro" \
  -p 127.0.0.1::7300 -p 127.0.0.1::7301 "$image" \
  --listen=0.0.0.0:7300 --insecure --metrics-listen=0.0.0.0:7301 \
  --config=/etc/writeboost/controller.json
ctl=$started
server=127.0.0.1:$(host_port "$ctl" 7300)
wait_serving "$server" "" 30

step "the image's health check"
podman healthcheck run "$ctl" >/dev/null || fail "the image's HEALTHCHECK failed"
metrics=$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
  "http://127.0.0.1:$(host_port "$ctl" 7301)/metrics")
grep -q '^writeboost_' <<<"$metrics" || fail "no writeboost_ metrics on the metrics port"

step "SIGTERM stops it cleanly"
stop_containers -t 20 "$ctl"
rc=$(podman inspect --format '{{.State.ExitCode}}' "$ctl")
[[ $rc == 0 ]] || fail "writeboost-controller exited $rc on SIGTERM"
echo "PASS"
