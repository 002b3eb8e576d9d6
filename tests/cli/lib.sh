# Shared helpers of the CLI tests (sourced). Every assertion prints what it
# expected and what it got, then exits 1; 77 means "skipped".

WBCTL=${1:-${WBCTL:-}}
HELPER=${2:-${WB_WRITE_HELPER:-}}
if [[ ! -x $WBCTL || ! -x $HELPER ]]; then
  echo "usage: $0 PATH/TO/wbctl PATH/TO/wb_write_helper (or set WBCTL, WB_WRITE_HELPER)" >&2
  exit 1
fi
for tool in python3 cmp truncate dd; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done

# A real filesystem (not tmpfs): O_DIRECT and user xattrs must work.
dir=$(mktemp -d -p /var/tmp wbctl-test.XXXXXX)
cleanup_hooks=()
cleanup() {
  local h
  for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $*"; }

# run CMD...: runs CMD with set -e off; leaves $rc, $out (stdout), $err.
run() {
  set +e
  "$@" >"$dir/.out" 2>"$dir/.err"
  rc=$?
  set -e
  out=$(<"$dir/.out")
  err=$(<"$dir/.err")
}
# expect RC CMD...: runs CMD and requires exit status RC.
expect() {
  local want=$1
  shift
  run "$@"
  [[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want
stdout: $out
stderr: $err"
}
# contains TEXT NEEDLE WHAT
contains() {
  [[ $1 == *"$2"* ]] || fail "$3: expected to find '$2' in:
$1"
}
# one_error_line: stderr of the last run is exactly one "wbctl: ..." line.
one_error_line() {
  [[ $(wc -l <"$dir/.err") -eq 1 && $err == "wbctl: "* ]] ||
    fail "expected one line 'wbctl: ...' on stderr, got:
$err"
}
# json EXPR: evaluates a Python expression on the last run's stdout (as j).
json() {
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$dir/.out" "$1"
}
# corrupt FILE OFFSET: overwrites 4 bytes at OFFSET.
corrupt() {
  printf 'XXXX' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
