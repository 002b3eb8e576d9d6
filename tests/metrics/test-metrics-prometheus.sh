#!/usr/bin/env bash
# writeboostd's metrics, end to end: a real Prometheus scrapes a real
# writeboostd serving two volumes while wbctl writes, reads, flushes and
# drains one of them (the other stays idle). Then, through Prometheus's
# HTTP API (prom_check.py):
#   - the counters equal the work done (bytes by op, block hits and misses,
#     writeback, errors), per volume;
#   - every PromQL expression of deploy/grafana/writeboost.json, and every
#     variable query, returns data;
#   - every rule of deploy/prometheus/alerts.yml evaluates without error
#     and none fires;
#   - every exported metric is documented in docs/METRICS.md.
# Prometheus runs on loopback with a generated config, a free port, its own
# storage directory and a bounded lifetime, like the daemon.
#   WRITEBOOSTD=... WBCTL=... tests/metrics/test-metrics-prometheus.sh
set -euo pipefail

: "${WRITEBOOSTD:?set WRITEBOOSTD to the writeboostd binary}"
: "${WBCTL:?set WBCTL to the wbctl binary}"
PROMETHEUS=${PROMETHEUS:-prometheus}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
LIFETIME=150  # seconds any process of this test may live

fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in "$PROMETHEUS" python3 timeout cmp; do
  command -v "$tool" >/dev/null ||
    fail "$tool is missing (scripts/install-deps.sh installs it)"
done

dir=$(mktemp -d -p /var/tmp wbmetrics-test.XXXXXX)
pids=()
cleanup() {
  local rc=$? p
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ $rc -ne 0 ]]; then
    for p in "$dir"/*.log; do
      echo "=== tail of $p"
      tail -n 30 "$p"
    done
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
step() { echo "--- $(date +%T) $*"; }

# ------------------------------------------------------------- writeboostd
step "writeboostd with volumes alpha (written) and beta (idle)"
sock="unix:$dir/wb.sock"
# writeback_threshold=0: write back only when told to (drop-caches), so that
# the read-back below finds every block still in the cache.
vol_opts="origin_size=128M,cache_size=64M,writeback_threshold=0"
timeout -k 5 "$LIFETIME" "$WRITEBOOSTD" --listen "$sock" --metrics-listen 127.0.0.1:0 \
  --volume "name=alpha,origin=$dir/alpha.origin,cache=$dir/alpha.cache,$vol_opts" \
  --volume "name=beta,origin=$dir/beta.origin,cache=$dir/beta.cache,$vol_opts" \
  >"$dir/writeboostd.log" 2>&1 &
pids+=($!)
W=("$WBCTL" --server "$sock")
metrics=""
for _ in $(seq 100); do
  metrics=$(sed -n 's|.*metrics on \(http://[0-9.:]*/metrics\).*|\1|p' "$dir/writeboostd.log")
  [[ -n "$metrics" ]] && break
  sleep 0.1
done
[[ -n "$metrics" ]] || fail "writeboostd logged no metrics address"
serving() {
  "${W[@]}" status "$1" --json 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["state"] != "VOLUME_STATE_SERVING")'
}
for v in alpha beta; do
  for _ in $(seq 100); do serving "$v" && break; sleep 0.1; done
  serving "$v" || fail "volume $v does not serve"
done
echo "metrics at $metrics"

# ------------------------------------------------------------- prometheus
step "Prometheus scraping it every second"
target=${metrics#http://}
target=${target%/metrics}
cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $src/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: writeboostd
    static_configs:
      - targets: ['$target']
EOF
prom=""
for attempt in 1 2 3; do
  # A free port, taken between this probe and Prometheus's bind: try again.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  timeout -k 5 "$LIFETIME" "$PROMETHEUS" --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/prometheus-data" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >>"$dir/prometheus.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=1)" \
      2>/dev/null && { prom="http://127.0.0.1:$port"; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if [[ -n "$prom" ]]; then pids+=("$pid"); break; fi
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
done
[[ -n "$prom" ]] || fail "Prometheus did not start"
python3 "$here/prom_check.py" wait-up "$prom" writeboostd 30
echo "Prometheus at $prom, target up"

# ---------------------------------------------------------------- workload
step "workload: 4 MiB written, 1 MiB with FUA, a flush, 6 MiB read, a bad read, a drain"
head -c 4M /dev/urandom >"$dir/a.bin"
head -c 1M /dev/urandom >"$dir/b.bin"
"${W[@]}" write alpha --offset 0 --file "$dir/a.bin" >/dev/null
"${W[@]}" write alpha --offset 4M --file "$dir/b.bin" --fua >/dev/null
"${W[@]}" flush alpha >/dev/null
# Back from the cache: every block a hit.
"${W[@]}" read alpha --offset 0 --length 5M --file "$dir/back.bin"
cmp <(cat "$dir/a.bin" "$dir/b.bin") "$dir/back.bin" || fail "read back differs"
# Never written: every block a miss, read from the origin.
"${W[@]}" read alpha --offset 64M --length 1M --file "$dir/miss.bin"
# Past the end: refused by the node (OUT_OF_RANGE), counted as a read error.
if "${W[@]}" read alpha --offset 128M --length 4K --file "$dir/bad.bin" 2>"$dir/bad.err"; then
  fail "a read past the end succeeded"
fi
grep -q OUT_OF_RANGE "$dir/bad.err" || fail "read past the end: $(cat "$dir/bad.err")"
# Everything back to the origin.
"${W[@]}" drop-caches alpha >/dev/null 2>&1

MiB=1048576
cat >"$dir/expect.json" <<EOF
[
 {"what": "alpha bytes written (write)", "value": $((4 * MiB)),
  "query": "writeboost_io_bytes_total{volume=\"alpha\",op=\"write\"}"},
 {"what": "alpha bytes written with FUA (write_fua)", "value": $((1 * MiB)),
  "query": "writeboost_io_bytes_total{volume=\"alpha\",op=\"write_fua\"}"},
 {"what": "alpha bytes read", "value": $((6 * MiB)),
  "query": "writeboost_io_bytes_total{volume=\"alpha\",op=\"read\"}"},
 {"what": "alpha flushes", "value": 1,
  "query": "writeboost_io_duration_seconds_count{volume=\"alpha\",op=\"flush\"}"},
 {"what": "alpha failed reads (past the end)", "value": 1,
  "query": "writeboost_io_errors_total{volume=\"alpha\",op=\"read\"}"},
 {"what": "alpha failed requests, all ops", "value": 1,
  "query": "sum(writeboost_io_errors_total{volume=\"alpha\"})"},
 {"what": "alpha blocks written (4 KiB)", "value": $((5 * MiB / 4096)),
  "query": "sum(writeboost_block_accesses_total{volume=\"alpha\",op=\"write\"})"},
 {"what": "alpha blocks written over cached ones (hits)", "value": 0,
  "query": "sum(writeboost_block_accesses_total{volume=\"alpha\",op=\"write\",result=\"hit\"})"},
 {"what": "alpha blocks read from the cache (hits)", "value": $((5 * MiB / 4096)),
  "query": "sum(writeboost_block_accesses_total{volume=\"alpha\",op=\"read\",result=\"hit\"})"},
 {"what": "alpha blocks read from the origin (misses)", "value": $((1 * MiB / 4096)),
  "query": "sum(writeboost_block_accesses_total{volume=\"alpha\",op=\"read\",result=\"miss\"})"},
 {"what": "alpha bytes written back", "value": $((5 * MiB)),
  "query": "writeboost_writeback_bytes_total{volume=\"alpha\"}"},
 {"what": "alpha dirty bytes after the drain", "value": 0,
  "query": "writeboost_dirty_bytes{volume=\"alpha\"}"},
 {"what": "alpha recovery point after the drain (s)", "value": 0,
  "query": "writeboost_oldest_dirty_age_seconds{volume=\"alpha\"}"},
 {"what": "alpha segments flushed", "value": 1, "op": ">=",
  "query": "writeboost_segments_flushed_total{volume=\"alpha\"}"},
 {"what": "alpha group commits (FUA write, flush)", "value": 1, "op": ">=",
  "query": "writeboost_group_commits_total{volume=\"alpha\"}"},
 {"what": "alpha device errors", "value": 0,
  "query": "sum(writeboost_device_errors_total{volume=\"alpha\"})"},
 {"what": "alpha serving", "value": 1,
  "query": "writeboost_volume_state{volume=\"alpha\",state=\"serving\"}"},
 {"what": "alpha open duration (s)", "value": 0, "op": ">=",
  "query": "writeboost_volume_open_duration_seconds{volume=\"alpha\"}"},
 {"what": "beta bytes, all ops (idle)", "value": 0,
  "query": "sum(writeboost_io_bytes_total{volume=\"beta\"})"},
 {"what": "beta requests, all ops (idle)", "value": 0,
  "query": "sum(writeboost_io_duration_seconds_count{volume=\"beta\"})"},
 {"what": "beta blocks touched (idle)", "value": 0,
  "query": "sum(writeboost_block_accesses_total{volume=\"beta\"})"},
 {"what": "beta serving", "value": 1,
  "query": "writeboost_volume_state{volume=\"beta\",state=\"serving\"}"},
 {"what": "volumes known to the node", "value": 2,
  "query": "count(writeboost_volume_info)"},
 {"what": "build info", "value": 1,
  "query": "writeboost_build_info"}
]
EOF

# ------------------------------------------------------------------ checks
step "waiting for a scrape after the work"
python3 "$here/prom_check.py" wait-equal "$prom" \
  'writeboost_writeback_bytes_total{volume="alpha"}' $((5 * MiB)) 30
python3 "$here/prom_check.py" wait-equal "$prom" \
  'writeboost_io_errors_total{volume="alpha",op="read"}' 1 30
# Two more evaluations, so that every alert rule has seen the final data.
sleep 2.5
step "checking counters, dashboard, alert rules and docs through Prometheus"
python3 "$here/prom_check.py" check "$prom" "$metrics" "$dir/expect.json" \
  "$src/deploy/grafana/writeboost.json" "$src/deploy/prometheus/alerts.yml" \
  "$src/docs/METRICS.md"
step "PASS"
