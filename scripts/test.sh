#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest.
#
#   scripts/test.sh            all labels: unit, model, mount, crash, s3, redis
#   scripts/test.sh --fast     only the in-process unit tests (-L unit)
#   scripts/test.sh -- ARGS    extra ctest arguments, e.g. -- -R Posix
#
# The mount and crash tests need root and /dev/fuse (they skip, saying why,
# otherwise). An S3 server (s3rver) is started for the s3 tests, which also
# run the mount and crash tests on S3 volumes, and a Redis server for the
# redis tests (metadata on Redis). Each test formats and mounts
# its own volume in its own temp dir, so ctest runs two at a time. Exits
# non-zero if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

FAST=0
CTEST_EXTRA=()
while (($#)); do
  case "$1" in
    --fast) FAST=1 ;;
    --) shift; CTEST_EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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
    # A process may exit between the glob and the read: say nothing then.
    cmd=$({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null) || continue
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
#
# s3rver (installed by setup.sh) keeps its buckets in a temp dir that is
# removed with it. It checks the access key id (S3RVER) but not signatures.
# Without --openssl-legacy-provider its paginated listings fail with HTTP 500.
# shellcheck source-path=SCRIPTDIR source=lib/loopback.sh
source scripts/lib/loopback.sh
TOOLS_DIR=$(test_tools_dir)
S3RVER_PID=""
S3RVER_DIR=""
REDIS_PID=""
REDIS_DIR=""

# s3rver 3.7 crashes (an unhandled ENOENT) when a PUT races a DELETE that
# prunes the PUT's directory, which shoal's garbage collection does. So it
# runs under a loop that restarts it on the same port at once; the requests
# in flight fail and shoal's S3 client retries them, as it would against a
# real store that dropped a connection. The loop is its own process group.
start_s3rver() {
  local bin="$TOOLS_DIR/node_modules/.bin/s3rver" port attempt i
  if [[ ! -x "$bin" ]]; then
    echo "[test] error: s3rver is not installed in $TOOLS_DIR (scripts/setup.sh installs it)" >&2
    return 1
  fi
  S3RVER_DIR=$(mktemp -d /tmp/shoal-s3rver.XXXXXX)
  for ((attempt = 0; attempt < 3; attempt++)); do
    port=$(free_port) || { echo "[test] error: no free port for s3rver" >&2; return 1; }
    # shellcheck disable=SC2016  # expanded by the inner shell
    NODE_OPTIONS=--openssl-legacy-provider setsid bash -c '
      while :; do
        "$0" -d "$1" -a 127.0.0.1 -p "$2" --silent
        echo "[s3rver exited with status $?; restarting]"
        sleep 0.2
      done' "$bin" "$S3RVER_DIR/data" "$port" >"$S3RVER_DIR/log" 2>&1 &
    S3RVER_PID=$!
    for ((i = 0; i < 100; i++)); do
      if http_answers "$port"; then
        export SHOAL_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
        export SHOAL_TEST_S3_ACCESS_KEY=S3RVER
        export SHOAL_TEST_S3_SECRET_KEY=S3RVER
        echo "[test] s3rver (process group $S3RVER_PID) serves $SHOAL_TEST_S3_ENDPOINT"
        return 0
      fi
      sleep 0.1
    done
    # Not answering after 10 s (the port may have been taken): try another.
    stop_s3rver
  done
  echo "[test] error: s3rver did not start; its log:" >&2
  cat "$S3RVER_DIR/log" >&2 || true
  return 1
}

stop_s3rver() {
  if [[ -n "$S3RVER_PID" ]]; then
    kill -- "-$S3RVER_PID" 2>/dev/null || true
    wait "$S3RVER_PID" 2>/dev/null || true
    S3RVER_PID=""
  fi
}

# Whether a Redis server answers PING on 127.0.0.1:$1.
redis_answers() {
  (
    local line=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 line <&3 || true
    [[ "$line" == "+PONG"* ]]
  ) 2>/dev/null
}

# redis-server (installed by setup.sh) for the redis tests: loopback only, no
# persistence, its working files in a temp dir removed with it. Each test
# uses its own key prefix, so the tests share it. The tests that kill and
# restart a server start their own from SHOAL_TEST_REDIS_SERVER.
start_redis() {
  local bin port attempt i
  bin=$(command -v redis-server || true)
  if [[ -z "$bin" ]]; then
    echo "[test] error: redis-server is not installed (scripts/setup.sh installs it)" >&2
    return 1
  fi
  REDIS_DIR=$(mktemp -d /tmp/shoal-redis.XXXXXX)
  for ((attempt = 0; attempt < 3; attempt++)); do
    port=$(free_port) || { echo "[test] error: no free port for redis-server" >&2; return 1; }
    "$bin" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$REDIS_DIR" \
        --daemonize no >"$REDIS_DIR/log" 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
      if redis_answers "$port"; then
        export SHOAL_TEST_REDIS_URL="redis://127.0.0.1:$port"
        export SHOAL_TEST_REDIS_SERVER="$bin"
        echo "[test] redis-server (pid $REDIS_PID) serves $SHOAL_TEST_REDIS_URL"
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break  # exited (the port may have been taken)
      sleep 0.1
    done
    stop_redis
  done
  echo "[test] error: redis-server did not start; its log:" >&2
  cat "$REDIS_DIR/log" >&2 || true
  return 1
}

stop_redis() {
  if [[ -n "$REDIS_PID" ]]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
}

start_services() {
  if ! start_s3rver; then
    if [[ "${CI:-}" == true ]]; then
      echo "[test] error: CI needs the S3 server for the s3 tests" >&2
      exit 1
    fi
    echo "[test] warning: no S3 server: the s3 tests will skip" >&2
  fi
  if ! start_redis; then
    if [[ "${CI:-}" == true ]]; then
      echo "[test] error: CI needs the Redis server for the redis tests" >&2
      exit 1
    fi
    echo "[test] warning: no Redis server: the redis tests will skip" >&2
  fi
}

stop_services() {
  stop_redis
  if [[ -n "$REDIS_DIR" ]]; then
    rm -rf -- "$REDIS_DIR"
    REDIS_DIR=""
  fi
  stop_s3rver
  if [[ -n "$S3RVER_DIR" ]]; then
    if grep -q 'restarting' "$S3RVER_DIR/log" 2>/dev/null; then
      echo "[test] note: s3rver crashed and was restarted $(grep -c restarting "$S3RVER_DIR/log") time(s)"
    fi
    rm -rf -- "$S3RVER_DIR"
    S3RVER_DIR=""
  fi
}
# ----------------------------------------------------------------------------

trap cleanup EXIT
# The unit tests need no servers.
((FAST)) || start_services

CTEST_ARGS=(--test-dir "$BUILD_DIR" --output-on-failure -j 2 --timeout 600 --no-tests=error)
if ((FAST)); then
  CTEST_ARGS+=(-L unit)
  echo "[test] running the unit tests"
else
  echo "[test] running all tests (unit, model, mount, crash, s3, redis)"
fi
[[ $(id -u) -eq 0 ]] || echo "[test] note: not root, so the mount and crash tests will skip"

set +e
ctest "${CTEST_ARGS[@]}" "${CTEST_EXTRA[@]}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" || true)
passed=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" | grep -cE ' Passed +[0-9.]+ sec' || true)
# Skipped: a test that skipped itself (GTEST_SKIP), or one marked DISABLED.
skipped=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" |
          grep -cE '\*\*\*Skipped|\*\*\*Not Run \(Disabled\)' || true)
failed=$((total - passed - skipped))
echo
echo "[test] log: $LOG"
if ((skipped)); then
  echo "[test] skipped tests (see the log for why):"
  grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+:' "$LOG" |
    grep -E '\*\*\*Skipped|\*\*\*Not Run \(Disabled\)' |
    sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/  \1/'
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if ((status != 0 || failed != 0)); then
  echo "[test] FAILED (ctest exit $status)" >&2
  exit 1
fi
