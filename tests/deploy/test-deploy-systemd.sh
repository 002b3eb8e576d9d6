#!/usr/bin/env bash
# The systemd units (deploy/systemd) under a real systemd, in a container
# made from the images of this build: installed as their headers say, the
# node and the controller start with their sandboxing (users, no
# capabilities, ProtectSystem, the system call filter with io_uring), the
# node serves on its socket and registers with the controller over TLS
# (a drop-in adds --controller, as docs/OPERATIONS.md says), and
# `systemctl stop` stops both cleanly.
#
# The container gets CAP_SYS_ADMIN so that systemd can set up the units'
# mount namespaces, and no seccomp filter of its own, so that the units'
# SystemCallFilter is the one tested. systemd skips ProtectHostname in a
# container (it says so); everything else applies.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires podman openssl
image=localhost/writeboost/systemd-host:test

step "images"
"$SRC/scripts/build-images.sh" --from-host --tag test >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log"; fail "image build failed"; }
podman build --pull=never --layers -q --file "$SRC/tests/deploy/systemd.Containerfile" \
  --build-arg NODE_IMAGE=localhost/writeboost/writeboostd:test \
  --build-arg CONTROLLER_IMAGE=localhost/writeboost/writeboost-controller:test \
  --label io.writeboost.image=systemd-host \
  --tag "$image" "$SRC/tests/deploy" >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log"; fail "systemd image build failed"; }
podman image prune --force --filter label=io.writeboost.image=systemd-host >/dev/null

step "the controller's certificate"
mkdir -p "$dir/files"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
  -keyout "$dir/ca.key" -out "$dir/files/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$dir/files/tls.key" -out "$dir/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$dir/ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/files/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/ext" -out "$dir/files/tls.crt" 2>/dev/null
cp "$SRC"/deploy/systemd/*.service "$dir/files/"
chmod -R a+rX "$dir/files"

step "boot systemd"
start_container host --systemd=always --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
  -v "$dir/files:/files:ro" "$image"
host=$started
sh_in() { podman exec "$host" /bin/sh -ec "$1"; }
for _ in $(seq 60); do
  state=$(podman exec "$host" systemctl is-system-running 2>/dev/null || true)
  [[ $state == running || $state == degraded ]] && break
  sleep 0.5
done
[[ $state == running || $state == degraded ]] || fail "systemd did not boot: $state"

step "install the units as their headers say"
sh_in '
  id writeboost >/dev/null    # the image has the node user (uid 10001, group disk)
  useradd --system --no-create-home --shell /usr/sbin/nologin writeboost-controller
  install -m 0644 /files/writeboostd.service /files/writeboost-controller.service /etc/systemd/system/
  install -d /etc/writeboost
  echo "{}" >/etc/writeboost/node.json
  echo "{\"groups\": {\"default\": {\"capacity_bytes_per_second\": 104857600}}}" >/etc/writeboost/controller.json
  install -d -m 0750 -g writeboost-controller /etc/writeboost/controller-tls
  install -m 0640 -g writeboost-controller /files/tls.crt /files/tls.key /etc/writeboost/controller-tls/
  install -m 0644 /files/ca.crt /etc/writeboost/controller-ca.crt
  # The drop-in OPERATIONS.md describes: clear ExecStart, then the new one.
  mkdir -p /etc/systemd/system/writeboostd.service.d
  { echo "[Service]"; echo "ExecStart="
    sed -n "/^ExecStart=/,/[^\\\\]\$/p" /etc/systemd/system/writeboostd.service | sed "\$ s|\$| \\\\|"
    echo "    --node-id=systemd-host --controller=localhost:7300 --controller-tls-ca=/etc/writeboost/controller-ca.crt"
  } >/etc/systemd/system/writeboostd.service.d/controller.conf
  systemctl daemon-reload
  systemctl enable --now writeboost-controller writeboostd'

step "both units run, sandboxed"
wbctl_in=(podman exec "$host" wbctl --server unix:/run/writeboost/writeboost.sock)
for _ in $(seq 60); do
  "${wbctl_in[@]}" health --service writeboost.v1.BlockService >/dev/null 2>&1 && break
  sleep 0.5
done
"${wbctl_in[@]}" health --service writeboost.v1.BlockService >/dev/null ||
  { sh_in 'systemctl status --no-pager writeboostd writeboost-controller; journalctl --no-pager -n 30'; fail "the node is not serving"; }
for unit in writeboostd writeboost-controller; do
  [[ $(podman exec "$host" systemctl is-active "$unit") == active ]] || fail "$unit is not active"
  pid=$(podman exec "$host" systemctl show -p MainPID --value "$unit")
  status=$(podman exec "$host" cat "/proc/$pid/status")
  grep -q '^CapEff:[[:space:]]*0*$' <<<"$status" || fail "$unit has capabilities: $(grep ^Cap <<<"$status")"
  grep -q '^Seccomp:[[:space:]]*2$' <<<"$status" || fail "$unit runs without its system call filter"
  grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$status" || fail "$unit may gain privileges"
done
pid=$(podman exec "$host" systemctl show -p MainPID --value writeboostd)
user=$(podman exec "$host" stat -c %U "/proc/$pid")
[[ $user == writeboost ]] || fail "writeboostd runs as $user"
podman exec "$host" journalctl --no-pager -u writeboostd | grep -q "io_uring unavailable" &&
  fail "io_uring unavailable under the unit's system call filter"

step "the node's socket: write and read back"
"${wbctl_in[@]}" write default --offset 0 --length 64K --fill 0x3c --fua >/dev/null
"${wbctl_in[@]}" read default --offset 0 --length 64K >"$dir/read"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if d==b"\x3c"*65536 else 1)' "$dir/read" ||
  fail "read back other data"

step "the node registered with the controller over TLS"
view=
for _ in $(seq 40); do
  view=$(podman exec "$host" wbctl --tls-ca /etc/writeboost/controller-ca.crt pacing --controller localhost:7300 2>&1 || true)
  grep -q "systemd-host" <<<"$view" && break
  sleep 0.5
done
grep -q "systemd-host" <<<"$view" || fail "the controller does not list the node: $view"

step "systemctl stop: clean"
sh_in 'systemctl stop writeboostd writeboost-controller'
for unit in writeboostd writeboost-controller; do
  rc=$(podman exec "$host" systemctl show -p ExecMainStatus --value "$unit")
  [[ $rc == 0 ]] || fail "$unit exited $rc on stop"
done
podman exec "$host" journalctl --no-pager -u writeboostd | grep -q "stopped cleanly" ||
  fail "writeboostd did not stop cleanly"
echo PASS
