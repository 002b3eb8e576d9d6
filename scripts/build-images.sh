#!/usr/bin/env bash
# Builds the container images with podman (docker/*/Dockerfile).
#
#   scripts/build-images.sh [--from-host] [--tag TAG] [IMAGE...]
#
# IMAGE: writeboostd, writeboost-controller (default: both). Each is tagged
# localhost/writeboost/IMAGE:TAG (TAG: the project version, or "host" with
# --from-host).
#
#   (default)    release images, compiled from source inside the build
#                (builder stage: scripts/install-deps.sh + scripts/build.sh);
#                takes as long as a full build.
#   --from-host  copies the binaries of $BUILD (default build/, from
#                `make build`) instead: the quick path of make test.
#
# The Debian base comes from scripts/base-image.sh when no registry can be
# reached; builds never pull (--pull=never).
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}

from_host=0 tag=
images=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --from-host) from_host=1 ;;
    --tag) tag=$2; shift ;;
    writeboostd|writeboost-controller) images+=("$1") ;;
    *) echo "usage: $0 [--from-host] [--tag TAG] [writeboostd] [writeboost-controller]" >&2
       exit 2 ;;
  esac
  shift
done
[[ ${#images[@]} -gt 0 ]] || images=(writeboostd writeboost-controller)
version=$(sed -n 's/^project(writeboost VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [[ -z $tag ]]; then
  tag=$version
  [[ $from_host -eq 0 ]] || tag=host
fi

# One bootstrap at a time: tests build both images in parallel.
flock /tmp/writeboost-base-image.lock scripts/base-image.sh

stage=
trap '[[ -z $stage ]] || rm -rf "$stage"' EXIT
for image in "${images[@]}"; do
  target=release context=. ignore=(--ignorefile docker/dockerignore)
  if [[ $from_host -eq 1 ]]; then
    # A context of the staged files alone: nothing else is sent.
    target=from-host
    stage=$(mktemp -d)
    context=$stage ignore=()
    scripts/stage-image.sh "${BUILD:-build}" "$stage/build/image-root/$image" "$image"
  fi
  echo "build-images: localhost/writeboost/$image:$tag (--target $target)" >&2
  # --format docker: OCI image configs cannot carry HEALTHCHECK.
  podman build --pull=never --format docker --layers "${ignore[@]}" \
    --file "docker/$image/Dockerfile" --target "$target" \
    --label "org.opencontainers.image.version=$version" \
    --label "io.writeboost.image=$image" \
    --tag "localhost/writeboost/$image:$tag" "$context"
  # The image this tag named before is untagged now: drop it, or every
  # rebuild (make test) would keep a copy.
  podman image prune --force --filter "label=io.writeboost.image=$image" >/dev/null
  if [[ -n $stage ]]; then rm -rf "$stage"; stage=; fi
done
