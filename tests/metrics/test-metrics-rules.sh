#!/usr/bin/env bash
# The shipped Prometheus and Grafana files without a daemon:
#   promtool check rules deploy/prometheus/alerts.yml   (syntax, PromQL)
#   promtool test rules deploy/prometheus/alerts_test.yml (each alert fires
#     when it should, with its labels and text, and not before)
#   the dashboard's structure (prom_check.py dashboard-lint).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null ||
  { echo "FAIL: $PROMTOOL is missing (scripts/install-deps.sh installs prometheus)" >&2; exit 1; }

"$PROMTOOL" check rules "$src/deploy/prometheus/alerts.yml"
# promtool resolves rule_files against the test file's directory.
(cd "$src/deploy/prometheus" && "$PROMTOOL" test rules alerts_test.yml)
python3 "$here/prom_check.py" dashboard-lint "$src/deploy/grafana/writeboost.json"
