#!/usr/bin/env bash
# Installs every Debian package that writeboost's build, tests and benchmarks
# need. Does nothing (and needs no network) when they are all present.
set -euo pipefail

packages=(
  # Build
  build-essential cmake pkg-config git
  # Core
  libabsl-dev liburing-dev libisal-dev libxxhash-dev libnbd-dev
  # Compatibility fixtures (tests/compat) are gzip files
  zlib1g-dev
  # Service and client
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev nlohmann-json3-dev libcli11-dev
  # Tests
  libgtest-dev libgmock-dev clang libclang-rt-14-dev
  # make test-tsan: abseil rebuilt with TSan from its Debian source
  dpkg-dev xz-utils
  nbdkit nbdkit-plugin-dev libnbd-bin fio qemu-utils prometheus
  e2fsprogs fuse3 util-linux python3 openssl
  # Benchmarks
  gnuplot-nox
  # Deployment tests (tests/deploy): images, the chart, static YAML
  podman runc catatonit mmdebstrap yamllint unzip
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# npm validates the chart's rendered objects; nodejs may come from another
# repository that bundles npm, so look for the command, not the package.
command -v npm >/dev/null || missing+=(nodejs npm)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
