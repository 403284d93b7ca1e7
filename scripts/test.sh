#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest.
#
#   scripts/test.sh            all labels: unit, model, mount, crash
#   scripts/test.sh --fast     only the in-process unit tests (-L unit)
#   scripts/test.sh -- ARGS    extra ctest arguments, e.g. -- -R Posix
#
# The mount and crash tests need root and /dev/fuse (they skip, saying why,
# otherwise). Each test formats and mounts its own volume in its own temp dir,
# so ctest runs two at a time. Exits non-zero if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

FAST=0
CTEST_EXTRA=()
while (($#)); do
  case "$1" in
    --fast) FAST=1 ;;
    --) shift; CTEST_EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "[test] unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

scripts/setup.sh
scripts/build.sh

# Every mount test makes its temp dir under this one; whatever a crashed test
# left mounted or running is cleaned up on exit.
SHOAL_TEST_TMPDIR=$(mktemp -d /tmp/shoal-tests.XXXXXX)
chmod 0755 "$SHOAL_TEST_TMPDIR"  # the permission tests run as uid 65534
export SHOAL_TEST_TMPDIR
LOG="$BUILD_DIR/ctest.log"

cleanup() {
  local mp
  # Deepest mounts first.
  while read -r mp; do
    [[ -n "$mp" ]] || continue
    echo "[test] detaching a mount left by a test: $mp"
    fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  done < <(awk -v d="$SHOAL_TEST_TMPDIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
           awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-)
  # Processes started on those volumes name the temp dir in their arguments.
  local proc cmd
  for proc in /proc/[0-9]*; do
    [[ "${proc#/proc/}" != "$$" ]] || continue
    cmd=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null) || continue
    if [[ "$cmd" == *"$SHOAL_TEST_TMPDIR/"* ]]; then
      echo "[test] killing a process left by a test: ${proc#/proc/} $cmd"
      kill -9 "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  if ! grep -q -- "$SHOAL_TEST_TMPDIR/" /proc/self/mountinfo; then
    rm -rf -- "$SHOAL_TEST_TMPDIR"
  fi
  stop_services
}

# --- Test services ----------------------------------------------------------
# Servers that tests talk to (an S3 server, redis, PostgreSQL) are started
# here, on 127.0.0.1 only, and their addresses exported for the tests.
start_services() {
  :
}
stop_services() {
  :
}
# ----------------------------------------------------------------------------

trap cleanup EXIT
start_services

CTEST_ARGS=(--test-dir "$BUILD_DIR" --output-on-failure -j 2 --timeout 600 --no-tests=error)
if ((FAST)); then
  CTEST_ARGS+=(-L unit)
  echo "[test] running the unit tests"
else
  echo "[test] running all tests (unit, model, mount, crash)"
fi
[[ $(id -u) -eq 0 ]] || echo "[test] note: not root, so the mount and crash tests will skip"

set +e
ctest "${CTEST_ARGS[@]}" "${CTEST_EXTRA[@]}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" || true)
passed=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" | grep -cE ' Passed +[0-9.]+ sec' || true)
skipped=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" | grep -c '\*\*\*Skipped' || true)
failed=$((total - passed - skipped))
echo
echo "[test] log: $LOG"
if ((skipped)); then
  echo "[test] skipped tests (see the log for why):"
  grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" | grep '\*\*\*Skipped' |
    sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/  \1/'
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if ((status != 0 || failed != 0)); then
  echo "[test] FAILED (ctest exit $status)" >&2
  exit 1
fi
