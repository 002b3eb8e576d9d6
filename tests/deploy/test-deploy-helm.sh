#!/usr/bin/env bash
# The Helm chart (deploy/helm/writeboost), offline:
# - `helm lint --strict` with the default values and with each values file
#   of ci/ (one of them turns every option on);
# - `helm template` of each renders, and every rendered object validates
#   against the Kubernetes (and Prometheus Operator) schemas, unknown
#   fields included (validate/validate.mjs); NOTES.txt renders too;
# - what the objects say (chart_checks.py): flags, probes, mounts, the
#   node's and controller's JSON configs, the dashboard and alert copies;
# - values the chart must refuse are refused, with a message saying why;
# - yamllint --strict passes on the static YAML (.yamllint).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires npm node yamllint python3 openssl unzip
chart=$SRC/deploy/helm/writeboost

step "helm and the schema validator (cached after the first run)"
helm=$("$SRC/scripts/fetch-helm.sh")
validator=$("$SRC/tests/deploy/validate/install.sh")

step "yamllint"
(cd "$SRC" && yamllint --strict deploy) || fail "yamllint"

step "the chart's copies of the dashboard and the alert rules"
cmp "$SRC/deploy/grafana/writeboost.json" "$chart/files/writeboost.json" ||
  fail "deploy/grafana/writeboost.json changed: cp it to $chart/files/"
cmp "$SRC/deploy/prometheus/alerts.yml" "$chart/files/alerts.yml" ||
  fail "deploy/prometheus/alerts.yml changed: cp it to $chart/files/"

# NOTES.txt is not rendered by `helm template`: render it as a template
# of a copy of the chart.
notes_chart=$dir/notes-chart
cp -r "$chart" "$notes_chart"
{ echo 'notes: |'; sed 's/^/  /' "$chart/templates/NOTES.txt"; } >"$notes_chart/templates/notes.yaml"
rm "$notes_chart/templates/NOTES.txt"

sets=(default)
for f in "$chart"/ci/*-values.yaml; do sets+=("$f"); done
for set in "${sets[@]}"; do
  name=$(basename "$set" .yaml)
  args=()
  [[ $set == default ]] || args=(-f "$set")
  step "$name: lint, template, validate"
  "$helm" lint --strict "$chart" "${args[@]}" >"$dir/lint.log" 2>&1 ||
    { cat "$dir/lint.log"; fail "$name: helm lint --strict"; }
  "$helm" template wb "$chart" --namespace storage "${args[@]}" >"$dir/$name.yaml" ||
    fail "$name: helm template"
  node "$validator/validate.mjs" "$dir/$name.yaml" || fail "$name: invalid objects"
  "$helm" template wb "$notes_chart" --namespace storage "${args[@]}" \
    --show-only templates/notes.yaml >"$dir/$name.notes" || fail "$name: NOTES.txt"
  grep -q "Reach a volume" "$dir/$name.notes" || fail "$name: NOTES.txt lacks 'Reach a volume'"
done

step "what the rendered objects say"
python3 "$SRC/tests/deploy/chart_checks.py" "$SRC" "$dir" || fail "chart_checks.py"

step "values the chart refuses"
refuse() {  # EXPECTED-MESSAGE HELM-ARGS...
  local want=$1 out
  shift
  if out=$("$helm" template wb "$chart" "$@" 2>&1); then
    fail "helm template $* rendered; want an error with '$want'"
  fi
  grep -qF -- "$want" <<<"$out" || fail "helm template $*: want '$want', got: $out"
}
refuse "set tls.node.enabled" --set node.grpc.expose=true
refuse "tls.node.enabled needs" --set tls.node.enabled=true
refuse "controller.insecure=true" --set tls.controller.mode=none
refuse "needs tls.controller.existingSecret" --set tls.controller.mode=secret
refuse "neither a device under /dev/ nor a file under node.dataDir" \
  --set 'node.volumes[0].name=v,node.volumes[0].origin=/srv/o,node.volumes[0].cache=/dev/sdb'
refuse "Additional property rambufsize is not allowed" --set node.config.rambufsize=64M
refuse "node.volumes.0.name: Does not match pattern" --set 'node.volumes[0].name=bad name!,node.volumes[0].origin=/dev/a,node.volumes[0].cache=/dev/b'
refuse 'Property name of "no_such_tunable" does not match' \
  --set 'node.volumes[0].name=v,node.volumes[0].origin=/dev/a,node.volumes[0].cache=/dev/b,node.volumes[0].tunables.no_such_tunable=1'
refuse "auth.tokens.0.access must be one of" --set 'auth.tokens[0].token=0123456789,auth.tokens[0].access=write,auth.tokens[0].volumes[0]=*'
echo "PASS"
