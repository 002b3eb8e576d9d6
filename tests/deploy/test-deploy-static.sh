#!/usr/bin/env bash
# The two ways to the images build the same thing, and the files around
# them agree (no podman needed):
# - `make build` and the release images' builder stage run the same
#   scripts: install-deps.sh, then build.sh (which alone sets the build
#   type); both image paths lay out files with stage-image.sh and end in
#   the same runtime stage;
# - the host build tree the from-host images copy was configured by
#   build.sh's flags: its CMakeCache has build.sh's build type and no
#   sanitizer, mutant or core-only option;
# - every Dockerfile starts FROM the base scripts/base-image.sh makes;
# - the chart's appVersion is the project version (the images' tag);
# - the systemd units pass `systemd-analyze verify` and pass only flags
#   the binaries accept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SRC"

step "make build runs install-deps.sh and build.sh"
recipe() {  # the recipe lines of Makefile target $1
  awk -v t="$1" '$0 ~ "^"t":" {on=1; next} on && /^\t/ {print; next} on {exit}' Makefile
}
grep -q '^build: deps' Makefile || fail "Makefile: build does not depend on deps"
recipe deps | grep -q 'scripts/install-deps.sh' || fail "Makefile: deps does not run scripts/install-deps.sh"
[[ $(recipe build) == *scripts/build.sh* ]] || fail "Makefile: build does not run scripts/build.sh"
recipe build | grep -q 'cmake' && fail "Makefile: build runs cmake itself, besides scripts/build.sh"
# build.sh is the one place with the build type.
grep -rn -- '-DCMAKE_BUILD_TYPE' Makefile scripts/build.sh docker | grep -v '^scripts/build.sh:' | grep -v '^Makefile:.*\(ASAN\|TSAN\)_BUILD' &&
  fail "a build type is set outside scripts/build.sh (above)"
build_type=$(sed -n 's/.*-DCMAKE_BUILD_TYPE=\([A-Za-z]*\).*/\1/p' scripts/build.sh)
[[ -n $build_type ]] || fail "scripts/build.sh sets no CMAKE_BUILD_TYPE"

step "each Dockerfile: builder = install-deps.sh + build.sh + stage-image.sh; one runtime stage"
base=$(sed -n 's/^base=//p' scripts/base-image.sh)
[[ -n $base ]] || fail "scripts/base-image.sh names no base image"
for image in writeboostd writeboost-controller; do
  df=docker/$image/Dockerfile
  # FROM lines: the base image, or an earlier stage.
  while read -r _ from _ stage; do
    [[ $from == "$base" ]] || grep -qE "^FROM .* AS $from\$" "$df" || fail "$df: FROM $from is neither $base nor a stage"
  done < <(grep -E '^FROM ' "$df")
  stage_of() { awk -v s="$1" '/^FROM /{on = ($NF == s)} on' "$df"; }
  b=$(stage_of builder)
  grep -q 'RUN scripts/install-deps.sh$' <<<"$b" || fail "$df: builder does not run scripts/install-deps.sh"
  grep -q 'scripts/build.sh' <<<"$b" || fail "$df: builder does not run scripts/build.sh"
  grep -q "scripts/stage-image.sh /build /stage $image" <<<"$b" || fail "$df: builder does not stage with scripts/stage-image.sh"
  grep -qiE 'cmake|CMAKE_BUILD_TYPE|CXXFLAGS' <<<"$b" && fail "$df: builder sets build options of its own"
  stage_of release | grep -q '^FROM runtime AS release' || fail "$df: release is not FROM runtime"
  stage_of from-host | grep -q '^FROM runtime AS from-host' || fail "$df: from-host is not FROM runtime"
  stage_of from-host | grep -q "^COPY build/image-root/$image/ /\$" || fail "$df: from-host copies something else"
  [[ $(stage_of release | grep -c .) == 2 && $(stage_of from-host | grep -c .) == 2 ]] ||
    fail "$df: release and from-host must only add the staged files to runtime"
done
grep -q 'scripts/stage-image.sh "${BUILD:-build}" "$stage/build/image-root/$image" "$image"' scripts/build-images.sh ||
  fail "scripts/build-images.sh --from-host does not stage with scripts/stage-image.sh"

step "the host build tree ($BUILD) was configured with build.sh's flags"
cache=$BUILD/CMakeCache.txt
[[ -f $cache ]] || fail "$cache is missing"
grep -q "^CMAKE_BUILD_TYPE:STRING=$build_type\$" "$cache" ||
  fail "$BUILD is not a $build_type build: $(grep '^CMAKE_BUILD_TYPE' "$cache")"
for opt in WB_SANITIZE WB_MUTANT; do
  v=$(sed -n "s/^$opt:[A-Z]*=//p" "$cache")
  [[ -z $v || $v == OFF ]] || fail "$BUILD has $opt=$v: not what the images are built with"
done
grep -q '^WB_CORE_ONLY:BOOL=ON' "$cache" && fail "$BUILD is a core-only build"

step "versions"
version=$(sed -n 's/^project(writeboost VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
grep -q "^appVersion: \"$version\"\$" deploy/helm/writeboost/Chart.yaml ||
  fail "deploy/helm/writeboost/Chart.yaml: appVersion is not the project version $version"

step "systemd units"
if command -v systemd-analyze >/dev/null; then
  # verify wants the ExecStart binaries: point them at the build tree.
  for unit in deploy/systemd/*.service; do
    sed "s|/usr/local/bin/|$BUILD/bin/|" "$unit" >"$dir/$(basename "$unit")"
  done
  out=$(systemd-analyze verify "$dir"/*.service 2>&1) || true
  [[ -z $out ]] || fail "systemd-analyze verify: $out"
else
  echo "(systemd-analyze is missing: units not verified)"
fi
for unit in deploy/systemd/*.service; do
  bin=$(sed -n 's|^ExecStart=/usr/local/bin/\([a-z-]*\).*|\1|p' "$unit")
  [[ -x $BUILD/bin/$bin ]] || fail "$unit: $bin is not built"
  # --helpfull lists every flag (and exits 1).
  known=$({ "$BUILD/bin/$bin" --helpfull 2>&1 || true; } | grep -oE -- '--[a-z_]+' | tr _ - | sort -u)
  # ExecStart and its continuation lines.
  for flag in $(awk '/^ExecStart=/{on=1} on{print} on && !/\\$/{on=0}' "$unit" | grep -oE -- '--[a-z-]+' | sort -u); do
    grep -qx -- "$flag" <<<"$known" || fail "$unit: $bin does not know $flag"
  done
done
echo "PASS"
