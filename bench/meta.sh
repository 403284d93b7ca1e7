#!/usr/bin/env bash
# Metadata latency of shoal with its metadata in RocksDB and in Redis, next to
# the raw local disk, in one run: prints a markdown table ready for
# docs/benchmarks.md.
#
#   bench/meta.sh [--count N] [--threads N] [--pin] [--tmp DIR] [--json-out DIR]
#
#   --count N      files per directory for `shoal bench --only meta` (default
#                  $META_COUNT, else 10000)
#   --threads N    threads of `shoal bench` (default $THREADS, else 1)
#   --pin          run the mounts and the benchmark on CPU 0 only (taskset -c 0):
#                  FUSE round trips without cross-CPU wake-ups
#   --tmp DIR      where the temp dir goes (default $TMPDIR, else /tmp); the
#                  raw-disk reference, the volumes' data and RocksDB live there
#   --json-out DIR also keep each target's `shoal bench --json` output there
#
# Builds nothing: uses $SHOAL, else build/bin/shoal. Needs root (FUSE) and
# redis-server on PATH (without it, the Redis column is skipped). Starts its
# own redis-server on a free loopback port, formats one volume per engine
# (data in a local directory), mounts them, runs `shoal bench` on each mount
# and on a plain directory, and unmounts, stops redis and removes everything
# on exit, also after a failure or Ctrl-C. Progress goes to stderr, the
# report to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/loopback.sh
source "$ROOT/scripts/lib/loopback.sh"
SHOAL=${SHOAL:-$ROOT/build/bin/shoal}
COUNT=${META_COUNT:-10000}
THREADS_FROM_ENV=${THREADS:-}
THREADS=${THREADS:-1}
PIN=0
TMP_BASE=${TMPDIR:-/tmp}
JSON_OUT=""
ARGS=("$@")

say() { echo "[meta.sh] $*" >&2; }
die() { say "error: $*"; exit 1; }

while (($#)); do
  case "$1" in
    --count) COUNT=${2:?--count needs a number}; shift ;;
    --threads) THREADS=${2:?--threads needs a number}; shift ;;
    --pin) PIN=1 ;;
    --tmp) TMP_BASE=${2:?--tmp needs a directory}; shift ;;
    --json-out) JSON_OUT=${2:?--json-out needs a directory}; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[meta.sh] unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

[[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || die "--count '$COUNT' is not a positive whole number"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "--threads '$THREADS' is not a positive whole number"
((EUID == 0)) || die "this needs root: mounting with FUSE needs /dev/fuse, which only root can \
open here; run it with sudo"
[[ -x "$SHOAL" ]] || die "no shoal binary at $SHOAL: build first (scripts/build.sh) or set SHOAL"
command -v jq >/dev/null || die "jq is missing: install it (apt-get install jq)"
[[ -z "$JSON_OUT" ]] || mkdir -p "$JSON_OUT"

RUN=()
((PIN == 0)) || RUN=(taskset -c 0)

WORK=$(mktemp -d "$TMP_BASE/shoal-meta-bench.XXXXXX")
MOUNTED=()
REDIS_PID=""

cleanup() {
  local rc=$?
  set +e
  local mp
  for mp in "${MOUNTED[@]}"; do
    "$SHOAL" umount "$mp" --timeout 60 >/dev/null ||
      { say "shoal umount $mp failed: detaching it"; fusermount3 -uz "$mp" || umount -l "$mp"; }
  done
  if [[ -n "$REDIS_PID" ]]; then
    kill "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

# Starts redis-server with nothing persisted; sets REDIS_PID and REDIS_PORT.
start_redis() {
  mkdir -p "$WORK/redis"
  local attempt
  for attempt in 1 2 3; do
    REDIS_PORT=$(free_port) || die "found no free loopback port for redis-server"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" --daemonize no &
    REDIS_PID=$!
    for _ in $(seq 50); do
      if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
    say "redis-server did not start on port $REDIS_PORT (attempt $attempt): $(tail -n 2 "$WORK/redis/redis.log" 2>/dev/null)"
  done
  return 1
}

# format_and_mount NAME META_URL: formats volume NAME with its data in
# $WORK/NAME.data and mounts it at $WORK/NAME.mnt. Returns 3 (and says why)
# when this shoal does not know the URL's engine.
format_and_mount() {
  local name=$1 url=$2 out
  if ! out=$("$SHOAL" format "$url" "$name" --storage file --bucket "$WORK/$name.data" 2>&1); then
    if [[ "$out" == *"unknown scheme"* ]]; then
      say "skipping $name: this shoal does not support ${url%%://*}:// yet ($out)"
      return 3
    fi
    die "formatting $url failed: $out"
  fi
  mkdir -p "$WORK/$name.mnt"
  "${RUN[@]}" "$SHOAL" mount "$url" "$WORK/$name.mnt" --background --log "$WORK/$name.log" \
    >/dev/null || die "mounting $url failed; its log: $(tail -n 5 "$WORK/$name.log" 2>/dev/null)"
  MOUNTED+=("$WORK/$name.mnt")
}

# bench NAME DIR: runs the meta workload in DIR; the JSON lands in $WORK/NAME.json.
bench() {
  local name=$1 dir=$2
  say "measuring $name ($COUNT files, $THREADS thread(s))"
  "${RUN[@]}" "$SHOAL" bench "$dir" --only meta --meta-count "$COUNT" --threads "$THREADS" \
    --json >"$WORK/$name.json" || die "shoal bench on $name ($dir) failed"
  [[ -z "$JSON_OUT" ]] || cp "$WORK/$name.json" "$JSON_OUT/$name.json"
  TARGETS+=("$name")
}

TARGETS=()
mkdir -p "$WORK/raw"
bench raw "$WORK/raw"

format_and_mount rocksdb "rocksdb://$WORK/rocksdb.meta"
bench rocksdb "$WORK/rocksdb.mnt"

REDIS_NOTE=""
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  REDIS_NOTE="Redis skipped: redis-server or redis-cli is not installed."
  say "$REDIS_NOTE"
elif ! start_redis; then
  die "redis-server would not start (log above)"
else
  rc=0
  format_and_mount redis "redis://127.0.0.1:$REDIS_PORT/0" || rc=$?
  if ((rc == 0)); then
    bench redis "$WORK/redis.mnt"
  elif ((rc == 3)); then
    REDIS_NOTE="Redis skipped: this shoal build does not support redis:// meta URLs."
  else
    exit "$rc"
  fi
fi

# The report. Latencies in µs; ops/s for readdir counts entries listed.
cmdline="bench/meta.sh"
((${#ARGS[@]} == 0)) || cmdline+=" ${ARGS[*]}"
[[ -z "${THREADS_FROM_ENV:-}" ]] || cmdline="THREADS=$THREADS_FROM_ENV $cmdline"
[[ -z "${META_COUNT:-}" ]] || cmdline="META_COUNT=$META_COUNT $cmdline"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)

echo "### Metadata latency: \`shoal bench --only meta\`, $COUNT files in one directory"
echo
echo "- Command: \`$cmdline\` (shoal bench --meta-count $COUNT --threads $THREADS)"
echo "- Machine: $(nproc) CPUs ($cpu), $mem, $(uname -sr) $(uname -m)"
echo "- File system under the raw directory, the volumes' data and RocksDB:" \
  "$(jq -r .fs_type "$WORK/raw.json") ($TMP_BASE)"
echo "- shoal $("$SHOAL" --version 2>/dev/null | head -n 1); $(redis-server --version 2>/dev/null | awk '{ print $1, $3 }' || true)"
if ((PIN)); then
  echo "- Mount daemons and benchmark pinned to CPU 0 (taskset -c 0)"
else
  echo "- Not pinned: FUSE requests cross vCPUs (slower round trips in a VM)"
fi
echo "- Mount options: defaults (attribute and entry timeouts 1 s); volume data in a local directory"
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
[[ -z "$REDIS_NOTE" ]] || echo "- $REDIS_NOTE"
echo

# One TSV line per target and op: target op p50 p99 ops_per_sec.
for t in "${TARGETS[@]}"; do
  jq -r --arg t "$t" '.meta.results[] |
    [$t, .op, .latency_us.p50, .latency_us.p99, .ops_per_sec] | @tsv' "$WORK/$t.json"
done | awk -F'\t' -v targets="${TARGETS[*]}" '
  function lat(v) { return v < 10 ? sprintf("%.1f", v) : num(v) }
  function num(v,   s, out) {
    s = sprintf("%.0f", v); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return s out
  }
  {
    if (!($2 in seen)) { seen[$2] = 1; ops[++nops] = $2 }
    p50[$1, $2] = $3; p99[$1, $2] = $4; rate[$1, $2] = $5
  }
  END {
    nt = split(targets, t, " ")
    head = "| op |"; rule = "|---|"
    for (i = 1; i <= nt; i++) {
      head = head " " t[i] " p50 µs | " t[i] " p99 µs | " t[i] " ops/s |"
      rule = rule "---:|---:|---:|"
      if (t[i] != "raw") { head = head " " t[i] "/raw p50 |"; rule = rule "---:|" }
    }
    print head; print rule
    for (k = 1; k <= nops; k++) {
      o = ops[k]; line = "| " o " |"
      for (i = 1; i <= nt; i++) {
        line = line " " lat(p50[t[i], o]) " | " lat(p99[t[i], o]) " | " num(rate[t[i], o]) " |"
        if (t[i] != "raw") {
          r = p50["raw", o] > 0 ? p50[t[i], o] / p50["raw", o] : 0
          line = line " " sprintf(r < 10 ? "%.1f×" : "%.0f×", r) " |"
        }
      }
      print line
    }
  }'
echo
echo "create: open(O_CREAT|O_EXCL) + close of an empty file; getattr: statx of each file with"
echo "AT_STATX_FORCE_SYNC, so that a mount is asked rather than the kernel's attribute cache;"
echo "lookup: stat of a name that does not exist (a negative lookup the kernel cannot answer from"
echo "its caches); readdir: $(jq -r .meta.readdir_rounds "$WORK/raw.json") full listings, p50/p99 per listing, ops/s = entries listed per"
echo "second; rename: each file to a new name in the same directory; unlink: each file."
echo "X/raw p50: the target's median latency over the raw directory's."
