#!/usr/bin/env bash
# writeboost-controller as a process: configuration errors, wbctl health,
# wbctl pacing (table and JSON) with two fake nodes, the metrics endpoint,
# a node that dies leaving the view, SIGTERM, and TLS / mTLS.
#   CONTROLLER=... WBCTL=... FAKE_NODE=... tests/controller/test-controller-cli.sh
set -euo pipefail

: "${CONTROLLER:?set CONTROLLER to the writeboost-controller binary}"
: "${WBCTL:?set WBCTL to the wbctl binary}"
: "${FAKE_NODE:?set FAKE_NODE to the controller_fake_node binary}"
for t in python3 openssl; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/install-deps.sh installs it)"; exit 1; }
done

dir=$(mktemp -d /var/tmp/wbctl-controller-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.log; do echo "--- $f:" >&2; tail -20 "$f" >&2; done
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# expect_exit CODE PATTERN CMD...: the command exits CODE and prints PATTERN.
expect_exit() {
  local code=$1 pattern=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -eq $code ]] || fail "$* exited $rc, want $code: $out"
  [[ "$out" == *"$pattern"* ]] || fail "$* printed '$out', want '$pattern'"
}
wait_for() {  # wait_for DESCRIPTION COMMAND...: polls for up to 10 s
  local what=$1; shift
  for _ in $(seq 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

port=$(free_port)
mport=$(free_port)
server="127.0.0.1:$port"

# Configuration errors: exit 2 with the reason, nothing started.
echo '{"groups": {"san": {"colour": 1}}}' >"$dir/bad.json"
expect_exit 2 "$dir/bad.json: groups.san.colour: unknown key" \
  "$CONTROLLER" --config "$dir/bad.json" --listen "$server"
echo '{"groups": {"san": {"capacity_bytes_per_second": -1}}}' >"$dir/neg.json"
expect_exit 2 "groups.san.capacity_bytes_per_second: must be >= 0, got -1" \
  "$CONTROLLER" --config "$dir/neg.json" --listen "$server"
expect_exit 2 "cannot read config file $dir/missing.json" \
  "$CONTROLLER" --config "$dir/missing.json" --listen "$server"
expect_exit 2 "refusing to listen on non-loopback address 0.0.0.0:$port without TLS" \
  "$CONTROLLER" --listen "0.0.0.0:$port"
expect_exit 2 "lease_ms (600) must be at least twice report_interval_ms (500)" \
  "$CONTROLLER" --listen "$server" --lease-ms 600
expect_exit 2 "--metrics-listen \"7301\": no port" \
  "$CONTROLLER" --listen "$server" --metrics-listen 7301

cat >"$dir/controller.json" <<JSON
{
  "lease_ms": 1000,
  "report_interval_ms": 100,
  "groups": {
    "san": {"capacity_bytes_per_second": 104857600, "capacity_iops": 1000},
    "ceph": {"target_p99_ms": 20, "max_bytes_per_second": 419430400}
  }
}
JSON
"$CONTROLLER" --config "$dir/controller.json" --listen "$server" \
  --metrics-listen "127.0.0.1:$mport" >"$dir/controller.log" 2>&1 &
cpid=$!
pids+=("$cpid")
wait_for "the controller to serve" "$WBCTL" health --server "$server"

# wbctl health: exit 0 only when SERVING.
expect_exit 0 "$server: SERVING" "$WBCTL" health --server "$server"
expect_exit 0 "$server writeboost.v1.ControllerService: SERVING" \
  "$WBCTL" health --server "$server" --service writeboost.v1.ControllerService
expect_exit 1 "wbctl: NOT_FOUND: " "$WBCTL" health --server "$server" --service nope
expect_exit 2 "--timeout must be a positive number of seconds" \
  "$WBCTL" health --server "$server" --timeout 0

# No node yet: the configured groups, empty.
expect_exit 0 "(no volumes reported)" "$WBCTL" pacing --controller "$server"

# Two nodes: node-a's volume is relaxed, node-b's is near its watermark;
# node-b also has a volume in a group with no budget.
M=$((1 << 20))
"$FAKE_NODE" "$server" node-a 60 \
  "name=db,group=san,dirty=$((10 * M)),capacity=$((1000 * M)),to_stall=$((900 * M))" \
  >"$dir/node-a.out" 2>"$dir/node-a.log" &
apid=$!
pids+=("$apid")
"$FAKE_NODE" "$server" node-b 60 \
  "name=hot,group=san,dirty=$((900 * M)),capacity=$((1000 * M)),to_stall=$((50 * M)),waiting=1" \
  "name=tmp,group=scratch,dirty=$M,capacity=$((1000 * M)),to_stall=$((500 * M))" \
  >"$dir/node-b.out" 2>"$dir/node-b.log" &
bpid=$!
pids+=("$bpid")
nodes_in() {  # nodes_in GROUP: node ids in the group, comma-separated
  "$WBCTL" pacing --controller "$server" --json |
    json "','.join(n['node_id'] for g in d['groups'] if g['name']=='$1' for n in g['nodes'])"
}
wait_for "both nodes in group san" bash -c "[[ \$('$WBCTL' pacing --controller '$server' --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(g[\"nodes\"]) for g in d[\"groups\"] if g[\"name\"]==\"san\"))') == 2 ]]"
sleep 0.3  # one more round of reports, so each node holds the two-node split

# The table.
out=$("$WBCTL" pacing --controller "$server")
echo "$out" | grep -q "^controller $server: lease 1000 ms, 3 groups$" || fail "pacing header: $out"
echo "$out" | grep -q "^group san (capacity): budget 100 MiB/s, 1000 IOPS; origin p99 0.0 ms$" ||
  fail "pacing san line: $out"
echo "$out" | grep -q "^group ceph (aimd): budget 100 MiB/s; target p99 20.0 ms, origin p99 0.0 ms$" ||
  fail "pacing ceph line: $out"
echo "$out" | grep -q "^group scratch (unlimited): origin p99 0.0 ms$" || fail "pacing scratch: $out"
echo "$out" | grep -Eq "^  NODE +VOLUME +DIRTY +TO STALL +WAIT +WRITEBACK +ORIG P99 +FOREGROUND +AGE +GRANT$" ||
  fail "pacing columns: $out"
echo "$out" | grep -Eq "^  node-a +db +10 MiB +900 MiB +0 .* [0-9.]+ MiB/s, [0-9]+ IOPS$" || fail "node-a row: $out"
echo "$out" | grep -Eq "^  node-b +hot +900 MiB +50 MiB +1 " || fail "node-b row: $out"
echo "$out" | grep -Eq "^  node-b +tmp .* unlimited$" || fail "unlimited row: $out"

# The JSON: the urgent volume gets most, the grants add up to the budget.
"$WBCTL" pacing --controller "$server" --json >"$dir/pacing.json"
python3 - "$dir/pacing.json" <<'PY' || fail "pacing --json: $(cat "$dir/pacing.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["lease_ms"] == 1000, d
groups = {g["name"]: g for g in d["groups"]}
assert sorted(groups) == ["ceph", "san", "scratch"], sorted(groups)
san = groups["san"]
assert san["mode"] == "capacity" and san["budget_bytes_per_second"] == 104857600, san
grants = {v["report"]["volume"]: v["grant"] for n in san["nodes"] for v in n["volumes"]}
assert grants["hot"]["bytes_per_second"] > 4 * grants["db"]["bytes_per_second"], grants
assert grants["db"]["bytes_per_second"] >= 0.05 * 104857600, grants
assert abs(sum(g["bytes_per_second"] for g in grants.values()) - 104857600) < 1, grants
tmp = groups["scratch"]["nodes"][0]["volumes"][0]
assert tmp["grant"]["unlimited"] is True, tmp
assert groups["scratch"]["nodes"][0]["address"] == "node-b:7200"
PY
# What the nodes received matches the view.
grep -q "^tmp unlimited$" "$dir/node-b.out" || fail "node-b got: $(cat "$dir/node-b.out")"

# Metrics.
metrics=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$mport/metrics').read().decode())")
for m in 'writeboost_controller_nodes 2' 'writeboost_controller_volumes{group="san"} 2' \
         'writeboost_controller_group_budget_bytes_per_second{group="san"} 104857600' \
         'writeboost_controller_grant_bytes_per_second{group="san",node="node-a",volume="db"}' \
         'writeboost_controller_sessions_total 2' 'writeboost_controller_reports_total'; do
  [[ "$metrics" == *"$m"* ]] || fail "metrics lack '$m': $metrics"
done

# node-a dies: it leaves the view, and node-b's volume gets its share.
kill -9 "$apid"
wait "$apid" 2>/dev/null || true
wait_for "node-a to leave" bash -c "[[ \$('$WBCTL' pacing --controller '$server' --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(g[\"nodes\"]) for g in d[\"groups\"] if g[\"name\"]==\"san\"))') == 1 ]]"
[[ $(nodes_in san) == node-b ]] || fail "san holds $(nodes_in san)"
grep -q "node node-a: session ended" "$dir/controller.log" || fail "no session end logged"

# SIGTERM: a clean stop; node-b's session is cut.
kill -TERM "$cpid"
rc=0
wait "$cpid" || rc=$?
[[ $rc -eq 0 ]] || fail "the controller exited $rc on SIGTERM"
grep -q "stopping" "$dir/controller.log" || fail "no stop logged"
grep -q "^writeboost-controller: stopped$" "$dir/controller.log" || fail "no 'stopped' logged"
rc=0
wait "$bpid" || rc=$?
[[ $rc -eq 1 ]] || fail "node-b's session did not end with an error (exit $rc)"
expect_exit 1 "wbctl: UNAVAILABLE: " "$WBCTL" health --server "$server" --timeout 2

# TLS, then mTLS.
(
  cd "$dir" && set -e
  K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
  openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=wbtest-ca
  openssl req $K -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >s.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out server.crt -days 2 -extfile s.ext
  openssl req $K -keyout client.key -out client.csr -subj /CN=wbtest-client
  printf 'extendedKeyUsage=clientAuth\n' >c.ext
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out client.crt -days 2 -extfile c.ext
) >"$dir/openssl.log" 2>&1 || fail "openssl"
TLS=(--tls-ca "$dir/ca.crt" --tls-server-name localhost)
"$CONTROLLER" --listen "$server" --metrics-listen none \
  --tls-cert "$dir/server.crt" --tls-key "$dir/server.key" >"$dir/tls.log" 2>&1 &
cpid=$!
pids+=("$cpid")
wait_for "the TLS controller" "$WBCTL" health --server "$server" "${TLS[@]}"
grep -q "(TLS)" "$dir/tls.log" || fail "TLS not logged"
expect_exit 0 "controller $server: lease 3000 ms, 0 groups" \
  "$WBCTL" pacing --controller "$server" "${TLS[@]}"
expect_exit 1 "wbctl: UNAVAILABLE: " "$WBCTL" health --server "$server" --timeout 2
kill -TERM "$cpid"
wait "$cpid" || fail "TLS controller exited $?"

"$CONTROLLER" --listen "$server" --metrics-listen none --tls-cert "$dir/server.crt" \
  --tls-key "$dir/server.key" --tls-ca "$dir/ca.crt" >"$dir/mtls.log" 2>&1 &
cpid=$!
pids+=("$cpid")
MTLS=("${TLS[@]}" --tls-cert "$dir/client.crt" --tls-key "$dir/client.key")
wait_for "the mTLS controller" "$WBCTL" health --server "$server" "${MTLS[@]}"
grep -q "(mTLS)" "$dir/mtls.log" || fail "mTLS not logged"
expect_exit 1 "wbctl: UNAVAILABLE: " "$WBCTL" health --server "$server" "${TLS[@]}" --timeout 2
expect_exit 0 "controller $server" "$WBCTL" pacing --controller "$server" "${MTLS[@]}"
kill -TERM "$cpid"
wait "$cpid" || fail "mTLS controller exited $?"

echo PASS
