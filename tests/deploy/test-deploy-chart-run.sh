#!/usr/bin/env bash
# The chart's pods run for real, with the images of this build: the chart
# rendered with TLS on both links (the controller's certificate generated
# by Helm, the node's made here with openssl, client certificates
# required), a token, a file-backed volume in an origin group with a
# budget; chart_run.py runs the controller's and the node's pod templates
# in podman as a kubelet would, waits for their probes, and checks what
# NOTES.txt promises. No Kubernetes here: see chart_run.py for what is not
# emulated.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
requires podman openssl python3
chart=$SRC/deploy/helm/writeboost
helm=$("$SRC/scripts/fetch-helm.sh")

step "images (cached when the image tests built them)"
"$SRC/scripts/build-images.sh" --from-host --tag test >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log"; fail "image build failed"; }

step "the node's certificate (localhost; server and client auth)"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$dir/node.key" -out "$dir/node.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$dir/ext"
openssl x509 -req -in "$dir/node.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/ext" -out "$dir/node.crt" 2>/dev/null

cat >"$dir/values.yaml" <<'VALUES'
image:
  nodeRepository: localhost/writeboost/writeboostd
  controllerRepository: localhost/writeboost/writeboost-controller
  tag: test
  pullPolicy: Never
node:
  privileged: false
  volumes:
    - name: vol1
      origin: /var/lib/writeboost/vol1.origin
      cache: /var/lib/writeboost/vol1.cache
      origin_size: 64M
      cache_size: 128M
      origin_group: san-a
      tunables:
        writeback_threshold: 60
  grpc:
    expose: true
tls:
  node:
    enabled: true
    clientAuth: true
auth:
  tokens:
    - token: t0k3n-admin-0123456789
      access: admin
      volumes: ["*"]
controller:
  config:
    groups:
      san-a:
        capacity_bytes_per_second: 104857600
VALUES
"$helm" template wb "$chart" --namespace storage -f "$dir/values.yaml" \
  --set-file tls.node.cert="$dir/node.crt" --set-file tls.node.key="$dir/node.key" \
  --set-file tls.node.ca="$dir/ca.crt" >"$dir/rendered.yaml" || fail "helm template"

python3 "$SRC/tests/deploy/chart_run.py" "$SRC" "$dir/rendered.yaml" "$dir" || fail "chart_run.py"
echo PASS
