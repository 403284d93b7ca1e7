#!/usr/bin/env bash
# What stalled requests cost a writer: COUNT small files, each written and
# closed (so each close waits for its PUT), on a volume in a local S3 server,
# once through a fault proxy that fails nothing and once through one that
# stalls a share of all requests (accepts them and never answers). Prints a
# markdown table of medians ready for docs/benchmarks.md.
#
#   bench/stalls.sh [--count N] [--share F] [--repeat N] [--io-timeout S] [--tmp DIR]
#
#   --count N       files per run (default 300), 4 KiB each
#   --share F       share of requests stalled in the second case (default 0.02)
#   --repeat N      runs per case, median taken (default 3)
#   --io-timeout S  passed to the mounts (default: shoal's own)
#   --tmp DIR       where the temp dir goes (default $TMPDIR, else /tmp)
#
# Builds nothing: uses $SHOAL (else build/bin/shoal) and $SHOAL_FAULT_PROXY
# (else build/bin/shoal_fault_proxy). Needs root (FUSE) and s3rver (installed
# by scripts/setup.sh). Everything it starts is stopped and its temp dir
# removed on exit, also after a failure or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOG_TAG=stalls  # read by lib/common.sh
export LOG_TAG
# shellcheck source=lib/common.sh
source "$ROOT/bench/lib/common.sh"
# shellcheck source=lib/s3rver.sh
source "$ROOT/bench/lib/s3rver.sh"
# shellcheck source=lib/workloads.sh
source "$ROOT/bench/lib/workloads.sh"

SHOAL=${SHOAL:-$ROOT/build/bin/shoal}
PROXY=${SHOAL_FAULT_PROXY:-$ROOT/build/bin/shoal_fault_proxy}
COUNT=300
SHARE=0.02
REPEAT=3
IO_TIMEOUT=""
TMP_BASE=${TMPDIR:-/tmp}
ARGS=("$@")

while (($#)); do
  case "$1" in
    --count) COUNT=${2:?--count needs a number}; shift ;;
    --share) SHARE=${2:?--share needs a fraction}; shift ;;
    --repeat) REPEAT=${2:?--repeat needs a number}; shift ;;
    --io-timeout) IO_TIMEOUT=${2:?--io-timeout needs seconds}; shift ;;
    --tmp) TMP_BASE=${2:?--tmp needs a directory}; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[stalls] unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

[[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || die "--count '$COUNT' is not a positive whole number"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "--repeat '$REPEAT' is not a positive whole number"
[[ "$SHARE" =~ ^(0|1|0?\.[0-9]+)$ ]] || die "--share '$SHARE' is not a fraction from 0 to 1"
((EUID == 0)) || die "this needs root: mounting with FUSE needs /dev/fuse; run it with sudo"
[[ -x "$SHOAL" ]] || die "no shoal binary at $SHOAL: build first (scripts/build.sh) or set SHOAL"
[[ -x "$PROXY" ]] || die "no fault proxy at $PROXY: build first (scripts/build.sh) or set SHOAL_FAULT_PROXY"

TMP=$(mktemp -d "$TMP_BASE/shoal-stalls.XXXXXX")
PROXY_PIDS=()
cleanup() {
  local mp pid
  while read -r mp; do
    [[ -n "$mp" ]] && fuse_unmount "$mp"
  done < <(mounts_under "$TMP")
  for pid in "${PROXY_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  s3rver_stop
  rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
s3rver_start "$TMP/s3"
UPSTREAM=${S3RVER_URL##*:}
wl_init "$TMP"
IO_ARGS=()
[[ -z "$IO_TIMEOUT" ]] || IO_ARGS=(--io-timeout "$IO_TIMEOUT")

# run_case NAME SHARE: prints "median_seconds requests faults".
run_case() {
  local name=$1 share=$2 port="" i secs requests faults
  local mp="$TMP/$name.mnt" times=()
  "$PROXY" --upstream "$UPSTREAM" --share "$share" --faults stall --stall-ms 600000 \
    >"$TMP/$name.port" 2>"$TMP/$name.proxy" &
  PROXY_PIDS+=($!)
  for ((i = 0; i < 50; i++)); do
    port=$(head -n1 "$TMP/$name.port" 2>/dev/null || true)
    [[ -z "$port" ]] || break
    sleep 0.1
  done
  [[ -n "$port" ]] || die "the fault proxy did not start: $(cat "$TMP/$name.proxy")"
  s3_make_bucket "$name"
  "$SHOAL" format "rocksdb://$TMP/$name.meta" "$name" --storage s3 \
    --bucket "http://127.0.0.1:$port/$name" "${IO_ARGS[@]}" >/dev/null ||
    die "format through the proxy failed"
  mkdir -p "$mp"
  "$SHOAL" mount "rocksdb://$TMP/$name.meta" "$mp" --background --cache-dir "$TMP/$name.cache" \
    --log "$TMP/$name.log" "${IO_ARGS[@]}" >/dev/null || die "mount failed: $(tail -5 "$TMP/$name.log")"
  for ((i = 0; i < REPEAT; i++)); do
    mkdir -p "$mp/run$i"
    secs=$(wl small-write "$mp/run$i" "$COUNT" 4096) || die "writing failed on $name"
    times+=("$secs")
    log "$name run $((i + 1)): $COUNT files in $secs s"
  done
  "$SHOAL" umount "$mp" >/dev/null || die "umount of $name failed"
  kill "${PROXY_PIDS[-1]}"
  wait "${PROXY_PIDS[-1]}" 2>/dev/null || true
  # "requests N faults M"
  read -r _ requests _ faults <"$TMP/$name.proxy"
  echo "$(median "${times[@]}") $requests $faults"
}

# In this shell, not a subshell: cleanup must see every proxy started.
log "fault-free: $COUNT files x $REPEAT"
run_case clean 0 >"$TMP/clean.result"
read -r clean_s clean_req clean_faults <"$TMP/clean.result"
log "with ${SHARE} of requests stalled: $COUNT files x $REPEAT"
run_case stalled "$SHARE" >"$TMP/stalled.result"
read -r stall_s stall_req stall_faults <"$TMP/stalled.result"

echo "Command: \`bench/stalls.sh ${ARGS[*]}\`; $(nproc) CPUs; $(date -u +%Y-%m-%d)."
echo "$COUNT files of 4 KiB, each opened, written once and closed, median of $REPEAT runs;"
echo "io-timeout ${IO_TIMEOUT:-default}. Requests and stalls are counted by the proxy over all runs."
echo
echo "| case | seconds | files/s | requests | stalled | time vs fault-free |"
echo "|---|---|---|---|---|---|"
echo "| fault-free | $clean_s | $(div "$COUNT" "$clean_s") | $clean_req | $clean_faults | 1.00x |"
echo "| ${SHARE} stalled | $stall_s | $(div "$COUNT" "$stall_s") | $stall_req | $stall_faults |" \
  "$(awk -v a="$stall_s" -v b="$clean_s" 'BEGIN { printf "%.2fx", a / b }') |"
