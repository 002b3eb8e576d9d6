# Shared helpers of the deployment tests (sourced after `set -euo pipefail`).
#
# Environment (set by ctest, tests/deploy/CMakeLists.txt):
#   SRC    the source tree          BUILD  the build tree (binaries in bin/)
#
# Containers and volumes a test makes carry a name unique to the test run
# and are removed at exit, even when the test fails. Exit 77 = skipped.

: "${SRC:?set SRC to the source tree}"
: "${BUILD:?set BUILD to the build tree}"
export CONTAINERS_CONF=$SRC/docker/containers.conf
run_id=wbdeploy-$$
dir=$(mktemp -d -p /var/tmp "$run_id.XXXXXX")
containers=()   # removed at exit (podman rm -f)
pod_volumes=()  # removed at exit (podman volume rm)

cleanup() {
  local rc=$? c
  set +e
  for c in "${containers[@]}"; do
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
      echo "=== logs of container $c"
      podman logs --tail 30 "$c" 2>&1
    fi
    podman rm -f -t 2 "$c" >/dev/null 2>&1
  done
  for c in "${pod_volumes[@]}"; do podman volume rm -f "$c" >/dev/null 2>&1; done
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $(date +%T) $*"; }

requires() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/install-deps.sh installs it)"; exit 1; }
  done
}

# Runs a container in the background under a unique name, left in
# $started (not printed: a $(...) subshell would lose it from containers).
# Arguments: a short name, podman-run options and the image's arguments.
started=
start_container() {
  local name=$run_id-$1
  shift
  containers+=("$name")
  # --health-interval disable: no systemd timer for the image's
  # HEALTHCHECK (no systemd here); `podman healthcheck run` still runs it.
  podman run -d --name "$name" --health-interval disable "$@" >/dev/null 2>"$dir/$name.err" ||
    { cat "$dir/$name.err" >&2; fail "podman run $name failed"; }
  started=$name
}

# podman stop, quiet unless it fails (without systemd, podman logs an
# error about the HEALTHCHECK timer it cannot remove on every stop).
stop_containers() {
  podman stop "$@" >/dev/null 2>"$dir/stop.err" || { cat "$dir/stop.err" >&2; return 1; }
}

# The host port that CONTAINER publishes for its PORT (tcp).
host_port() {
  podman port "$1" "$2/tcp" | head -n1 | sed 's/.*://'
}

# Waits up to $3 seconds for `wbctl health --service $2` against $1.
wait_serving() {
  local server=$1 service=$2 deadline=$((SECONDS + $3))
  until "$BUILD/bin/wbctl" --server "$server" health --service "$service" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$server: $service not SERVING after $3 s"
    sleep 0.5
  done
}

# Every binary and shared object under the given paths in IMAGE resolves
# all its libraries.
check_ldd() {
  local image=$1 out
  shift
  out=$(podman run --rm --no-healthcheck --entrypoint /bin/sh "$image" -c '
    for f in "$@"; do
      [ -e "$f" ] || { echo "$f: missing"; continue; }
      ldd "$f" | sed -n "s|^|$f: |; /not found/p"
    done' sh "$@")
  [[ -z $out ]] || fail "unresolved libraries in $image:"$'\n'"$out"
}
