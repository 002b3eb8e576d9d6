#!/usr/bin/env bash
# Makes the Debian bookworm base image that docker/*/Dockerfile start FROM,
# for hosts that cannot pull it from a registry: bootstraps bookworm with
# mmdebstrap (about a minute) and tags the result with the Dockerfiles' FROM
# name. Does nothing when that image is already in podman's store, so
# `podman build --pull=never` finds it. With a registry at hand, `podman pull`
# the same name instead.
#
#   scripts/base-image.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}

# The one name every Dockerfile's FROM uses (tests/deploy checks that).
base=docker.io/library/debian:bookworm-slim
local_name=localhost/bookworm:base

if [[ ${1:-} != --force ]] && podman image exists "$base"; then
  exit 0
fi
echo "base-image: bootstrapping Debian bookworm into $local_name" >&2
# --variant=apt: essential packages plus apt, as in debian:bookworm-slim.
# Documentation and locales are left out, as the slim image does.
mmdebstrap --quiet --variant=apt \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm - | podman import --quiet - "$local_name" >/dev/null
podman tag "$local_name" "$base"
echo "base-image: tagged $base" >&2
