#!/usr/bin/env bash
# shoal next to its peers, on one machine, in one run: the same workloads on
# shoal (file store; S3 store; S3 store with a local cache), s3fs-fuse and
# rclone mount (the same local S3 server), libfuse's passthrough_ll example
# over the same disk (the FUSE ceiling), and the raw disk. Prints a markdown
# table of medians and the ratios shoal / peer, and writes every raw number
# to a JSON file.
#
#   sudo bench/peers.sh
#   sudo BIG=64M SMALL_COUNT=200 STAT_COUNT=2000 RSS_SIZE=256M REPEAT=1 bench/peers.sh
#
# Settings (environment):
#   TARGETS      comma list (default all): raw, passthrough, passthrough-cached, shoal-file,
#                shoal-s3, shoal-s3-cache, s3fs, rclone, and SHOAL_VARIANTS' names
#   REPEAT       runs of each measurement; the report gives medians (3)
#   BIG          big file size (1G); SMALL_COUNT (2000), SMALL_SIZE (4K)
#   STAT_COUNT   files of the stat pass (20000), created by STAT_WORKERS (8)
#                processes in parallel (untimed set-up; its rate is reported)
#   RSS_SIZE     file written then read while the mount's RSS is sampled
#                every 0.5 s (10G); 0 skips it
#   BUFFER_SIZE  shoal's memory budget for the RSS ratio (default: the
#                --buffer-size default in `shoal mount --help`, else 64M,
#                the per-file write buffer)
#   WORKDIR      where the temp dir goes (/var/tmp); everything is on its disk
#   OUT          JSON output (/var/tmp/shoal-peers-DATE.json); the markdown
#                goes next to it (.md)
#   SHOAL        the shoal binary (build/bin/shoal)
#   SHOAL_MOUNT_ARGS_FILE, SHOAL_MOUNT_ARGS_S3, SHOAL_MOUNT_ARGS_S3CACHE
#                extra `shoal mount` arguments of each shoal target
#   CACHE_SIZE   --cache-size of shoal-s3-cache (10G)
#   SHOAL_VARIANTS  more shoal targets: "NAME:file|s3:MOUNT ARGS;...",
#                e.g. "shoal-s3-wb:s3:--cache-dir {cache} --cache-size 10G --writeback"
#   S3FS_ARGS, RCLONE_ARGS, PASSTHROUGH_ARGS   extra mount arguments of the peers
#   S3FS_STAT_VIA_API  1 (default): s3fs's stat set is put into its bucket
#                through the S3 API (see phase_stat for why); 0: through s3fs
#   S3_WARM      1 (default): before a cold read from S3, s3rver's files are
#                read back into the page cache (the server warm, the client cold)
#   OBJBENCH     1 (default): measure raw s3rver with `shoal objbench`
#   INSTALL      1 (default): apt-get install s3fs / rclone when missing
#   KEEP         1: keep the work directory (for a look at logs)
#
# Needs root (FUSE, drop_caches), perl, curl, gcc and libfuse3-dev (for the
# passthrough), s3rver (scripts/setup.sh), s3fs and rclone (Debian). Starts
# its own s3rver on a free loopback port. Every mount, process and temp file
# is removed on exit, also after a failure or Ctrl-C. Progress goes to
# stderr, the report to stdout.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
LOG_TAG=peers
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/s3rver.sh
source "$HERE/lib/s3rver.sh"
# shellcheck source=lib/workloads.sh
source "$HERE/lib/workloads.sh"
# shellcheck source=lib/targets.sh
source "$HERE/lib/targets.sh"
# shellcheck source=lib/report.sh
source "$HERE/lib/report.sh"

case "${1:-}" in
  -h | --help)
    awk 'NR > 1 && /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  "") ;;
  *) echo "[peers] unknown argument: $1 (settings come from the environment; try --help)" >&2; exit 2 ;;
esac

# --- settings ------------------------------------------------------------------
SHOAL=${SHOAL:-$ROOT/build/bin/shoal}
REPEAT=${REPEAT:-3}
BIG=${BIG:-1G}
SMALL_COUNT=${SMALL_COUNT:-2000}
SMALL_SIZE=${SMALL_SIZE:-4K}
STAT_COUNT=${STAT_COUNT:-20000}
STAT_WORKERS=${STAT_WORKERS:-8}
S3FS_STAT_VIA_API=${S3FS_STAT_VIA_API:-1}
RSS_SIZE=${RSS_SIZE:-10G}
OBJBENCH=${OBJBENCH:-1}
INSTALL=${INSTALL:-1}
STORE_STALL=${STORE_STALL:-120}  # give up waiting for the store after this long without progress
shoal_variants_init
DEFAULT_TARGETS="raw,passthrough,passthrough-cached,shoal-file,shoal-s3,shoal-s3-cache,s3fs,rclone"
for v in "${!SHOAL_STORE[@]}"; do
  [[ ",$DEFAULT_TARGETS," == *",$v,"* ]] || DEFAULT_TARGETS+=",$v"
done
TARGETS=${TARGETS:-$DEFAULT_TARGETS}

[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT '$REPEAT' is not a positive whole number"
[[ "$SMALL_COUNT" =~ ^[1-9][0-9]*$ ]] || die "SMALL_COUNT '$SMALL_COUNT' is not a positive whole number"
[[ "$STAT_COUNT" =~ ^[1-9][0-9]*$ ]] || die "STAT_COUNT '$STAT_COUNT' is not a positive whole number"
[[ "$STAT_WORKERS" =~ ^[1-9][0-9]*$ ]] || die "STAT_WORKERS '$STAT_WORKERS' is not a positive whole number"
BIG_BYTES=$(parse_size "$BIG") || die "BIG '$BIG' is not a size (like 64M or 1G)"
SMALL_BYTES=$(parse_size "$SMALL_SIZE") || die "SMALL_SIZE '$SMALL_SIZE' is not a size (like 4K)"
RSS_BYTES=$(parse_size "$RSS_SIZE") || die "RSS_SIZE '$RSS_SIZE' is not a size (like 10G), or 0"
((BIG_BYTES > 0 && SMALL_BYTES > 0)) || die "BIG and SMALL_SIZE must not be 0"
IFS=',' read -r -a TARGET_LIST <<<"$TARGETS"
for t in "${TARGET_LIST[@]}"; do
  case "$t" in
    raw | passthrough | passthrough-cached | s3fs | rclone) ;;
    shoal-*) [[ -n "${SHOAL_STORE[$t]:-}" ]] || die "unknown shoal target '$t' (see SHOAL_VARIANTS)" ;;
    *) die "unknown target '$t': choose from $DEFAULT_TARGETS" ;;
  esac
done

((EUID == 0)) || die "this needs root: FUSE mounts (/dev/fuse) and dropping the page cache"
command -v perl >/dev/null || die "perl is missing (apt-get install perl)"
command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
command -v fusermount3 >/dev/null || die "fusermount3 is missing (apt-get install fuse3)"

# --- work directory, cleanup ------------------------------------------------------
WORK_BASE=${WORKDIR:-/var/tmp}
mkdir -p "$WORK_BASE"
WORKDIR=$(mktemp -d "$WORK_BASE/shoal-peers.XXXXXX")
chmod 0755 "$WORKDIR"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-/var/tmp/shoal-peers-$STAMP.json}
MD_OUT=${OUT%.json}.md
RES=$WORKDIR/results
mkdir -p "$RES"
: >"$WORKDIR/pids"

cleanup() {
  local status=$? mp pid
  trap - EXIT INT TERM
  while read -r mp; do
    [[ -n "$mp" ]] || continue
    log "unmounting $mp"
    fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  done < <(mounts_under "$WORKDIR")
  while read -r pid; do
    [[ -n "$pid" ]] || continue
    # Only our own mount daemons, which name the work directory in their
    # arguments: a pid of one that exited may belong to another process now.
    if kill -0 "$pid" 2>/dev/null &&
        [[ "$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)" == *"$WORKDIR/"* ]]; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_pid_exit "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$WORKDIR/pids"
  s3rver_stop
  if [[ "${KEEP:-0}" == 1 ]]; then
    log "kept the work directory $WORKDIR"
  elif [[ -z "$(mounts_under "$WORKDIR")" ]]; then
    rm -rf -- "$WORKDIR"
  else
    warn "something is still mounted under $WORKDIR: not removing it"
  fi
  exit "$status"
}
# A target runs in a subshell with its own process group (below): a signal
# stops all of it (workload, sampler, mount daemons), whose exit trap tears
# the target down, and then this shell cleans up the rest.
CHILD=""
on_signal() {
  if [[ -n "$CHILD" ]]; then
    kill -TERM -- "-$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# --- recording ------------------------------------------------------------------
# record TARGET METRIC UNIT VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES/results.tsv"; }
# note TARGET TEXT ("*" for the whole run)
note() { printf '%s\t%s\n' "$1" "$2" >>"$RES/notes.tsv"; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$RES/meta.tsv"; }
set_status() { printf '%s\t%s\n' "$1" "$2" >>"$RES/targets.tsv"; }

MIB=1048576
# rate AMOUNT SECONDS: AMOUNT / SECONDS, 2 decimals ("NA" if SECONDS is).
rate() { div "$1" "$2" 2; }

# --- disk space -----------------------------------------------------------------
avail=$(df --output=avail -B1 "$WORKDIR" | tail -1)
# The biggest target: rclone keeps a file in its cache and in the bucket, and
# s3rver keeps a multipart upload's parts until it has joined them.
need=$((REPEAT * BIG_BYTES * 3 + 3 * RSS_BYTES + REPEAT * SMALL_COUNT * SMALL_BYTES * 2 + (2 << 30)))
if ((avail < need)); then
  die "$WORKDIR has $((avail >> 30)) GiB free; this run needs about $((need >> 30)) GiB: \
lower RSS_SIZE/BIG or set WORKDIR to a bigger disk"
fi

# --- prerequisites per target ---------------------------------------------------
SHOAL_VERSION=""
PT_BIN=""
NEED_S3=0
RUN_TARGETS=()

apt_install() {
  ((INSTALL == 1)) || return 1
  log "installing $* from Debian (apt-get; INSTALL=0 skips this)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >"$WORKDIR/apt.log" 2>&1 && return 0
  DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$WORKDIR/apt.log" 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >>"$WORKDIR/apt.log" 2>&1
}

# Builds libfuse's passthrough_ll example from the copy Debian ships, in the
# work directory (never in the repository).
build_passthrough() {
  local src=/usr/share/doc/libfuse3-dev/examples dir=$WORKDIR/passthrough-build
  mkdir -p "$dir"
  if [[ -f $src/passthrough_ll.c ]]; then
    cp "$src/passthrough_ll.c" "$dir/"
  elif [[ -f $src/passthrough_ll.c.gz ]]; then
    gunzip -c "$src/passthrough_ll.c.gz" >"$dir/passthrough_ll.c"
  else
    echo "no passthrough_ll.c in $src (apt-get install libfuse3-dev)"
    return 1
  fi
  if [[ -f $src/passthrough_helpers.h ]]; then
    cp "$src/passthrough_helpers.h" "$dir/"
  elif [[ -f $src/passthrough_helpers.h.gz ]]; then
    gunzip -c "$src/passthrough_helpers.h.gz" >"$dir/passthrough_helpers.h"
  fi
  # shellcheck disable=SC2046  # pkg-config's flags split on blanks
  if ! gcc -O2 -Wall -o "$dir/passthrough_ll" "$dir/passthrough_ll.c" \
      $(pkg-config --cflags --libs fuse3) >"$dir/build.log" 2>&1; then
    echo "building passthrough_ll failed: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
    return 1
  fi
  PT_BIN=$dir/passthrough_ll
}

skip() {
  warn "skipping $1: $2"
  set_status "$1" skipped
  note "$1" "skipped: $2"
}

for t in "${TARGET_LIST[@]}"; do
  case "$t" in
    raw) RUN_TARGETS+=("$t") ;;
    passthrough | passthrough-cached)
      if [[ -n "$PT_BIN" ]] || why=$(build_passthrough); then
        PT_BIN=$WORKDIR/passthrough-build/passthrough_ll
        RUN_TARGETS+=("$t")
      else
        skip "$t" "$why"
      fi
      ;;
    s3fs | rclone)
      if command -v "$t" >/dev/null || { apt_install "$t" && command -v "$t" >/dev/null; }; then
        RUN_TARGETS+=("$t")
        NEED_S3=1
      else
        skip "$t" "$t is not installed (apt-get install $t)"
      fi
      ;;
    shoal-*)
      if [[ ! -x "$SHOAL" ]]; then
        skip "$t" "no shoal binary at $SHOAL (build it, or set SHOAL)"
        continue
      fi
      if [[ "${SHOAL_ARGS[$t]}" == *--cache-dir* ]] &&
          ! "$SHOAL" mount --help 2>/dev/null | grep -q -- '--cache-dir'; then
        skip "$t" "this shoal has no --cache-dir (shoal mount --help)"
        continue
      fi
      RUN_TARGETS+=("$t")
      [[ "${SHOAL_STORE[$t]}" != s3 ]] || NEED_S3=1
      ;;
  esac
done
((${#RUN_TARGETS[@]})) || die "no target can run (see the warnings above)"

if [[ -x "$SHOAL" ]]; then
  SHOAL_VERSION=$("$SHOAL" --version 2>/dev/null | head -1 || true)
fi
if [[ -z "${BUFFER_SIZE:-}" && -x "$SHOAL" ]]; then
  BUFFER_SIZE=$("$SHOAL" mount --help 2>/dev/null |
    sed -n 's/.*--buffer-size[^=]*=\([0-9]*[KMGT]\?\).*/\1/p' | head -1)
  [[ -n "$BUFFER_SIZE" ]] || BUFFER_SIZE=64M
fi
BUFFER_BYTES=$(parse_size "${BUFFER_SIZE:-64M}") || die "BUFFER_SIZE '$BUFFER_SIZE' is not a size"

wl_init "$WORKDIR"

meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta machine "$(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), \
Linux $(uname -r), $(findmnt -n -o FSTYPE --target "$WORKDIR") under $WORK_BASE"
meta shoal_version "${SHOAL_VERSION:-none}"
meta repeat "$REPEAT"
meta big_bytes "$BIG_BYTES"
meta big_human "$(human_size "$BIG_BYTES")"
meta small_count "$SMALL_COUNT"
meta small_bytes "$SMALL_BYTES"
meta small_human "$(human_size "$SMALL_BYTES")"
meta stat_count "$STAT_COUNT"
meta stat_workers "$STAT_WORKERS"
meta rss_bytes "$RSS_BYTES"
meta rss_human "$(human_size "$RSS_BYTES")"
meta buffer_bytes "$BUFFER_BYTES"
meta rss_budget_mib "$(((BUFFER_BYTES >> 20) + 100))"
meta targets "${RUN_TARGETS[*]}"
meta load_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta s3rver_version "$(node -p "require('$(dirname "$(dirname "$(s3rver_bin)")")/s3rver/package.json').version" 2>/dev/null || echo '?')"
note '*' "Latencies are not pinned: the workload and the FUSE daemons run on any of the vCPUs."

log "work directory $WORKDIR ($(df -h --output=avail "$WORKDIR" | tail -1 | tr -d ' ') free)"
log "targets: ${RUN_TARGETS[*]}; big $(human_size "$BIG_BYTES"), small $SMALL_COUNT × \
$(human_size "$SMALL_BYTES"), stat $STAT_COUNT, rss $(human_size "$RSS_BYTES"), repeat $REPEAT"

if ((NEED_S3)); then
  s3rver_start "$WORKDIR/s3rver"
  log "s3rver (process group $S3RVER_PGID) serves $S3RVER_URL"
fi

# --- measuring ------------------------------------------------------------------

# wait_store PREFIX EXPECTED: seconds until the target's store holds EXPECTED
# bytes (PREFIX: the key prefix for targets with one object per file), polled
# every 0.1 s; 0 for targets whose store is the file system itself; "NA" if
# nothing in the store (partial uploads included) grows for STORE_STALL
# seconds first.
wait_store() {
  local prefix=$1 expected=$2 start out have all last=-1 last_change
  out=$(target_store_bytes "$prefix")
  if [[ -z "$out" ]]; then
    echo 0
    return
  fi
  read -r have all <<<"$out"
  start=$(now)
  last_change=$start
  while ((have < expected)); do
    if ((all != last)); then
      last=$all
      last_change=$(now)
    elif [[ $(elapsed "$last_change" | cut -d. -f1) -ge $STORE_STALL ]]; then
      warn "$T_NAME: the store holds $have of $expected bytes and has not grown for ${STORE_STALL} s"
      echo NA
      return
    fi
    sleep 0.1
    read -r have all <<<"$(target_store_bytes "$prefix")"
  done
  elapsed "$start"
}

# store_base PREFIX: finished bytes in the store now (0 if it has none).
store_base() {
  local out
  out=$(target_store_bytes "$1")
  out=${out%% *}
  echo "${out:-0}"
}

# add A B: A + B, or NA.
add() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA") print "NA"; else printf "%.6f\n", a + b }'; }

RSS_SAMPLER=""
RSS_MAX=""
# rss_start PID FILE: samples PID's VmRSS every 0.5 s, keeping the max (KiB) in FILE.
rss_start() {
  local pid=$1 file=$2
  echo 0 >"$file"
  (
    max=0
    while :; do
      rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
      [[ -n "$rss" ]] || break
      if ((rss > max)); then
        max=$rss
        echo "$max" >"$file"
      fi
      sleep 0.5
    done
  ) &
  RSS_SAMPLER=$!
}
# rss_stop FILE: stops the sampler; sets RSS_MAX to the max in MiB.
rss_stop() {
  kill "$RSS_SAMPLER" 2>/dev/null || true
  wait "$RSS_SAMPLER" 2>/dev/null || true
  RSS_SAMPLER=""
  RSS_MAX=$(awk '{ printf "%.1f\n", $1 / 1024 }' "$1")
}

# server_ticks: CPU time (clock ticks) used so far by the processes of
# s3rver's process group; empty without s3rver.
server_ticks() {
  [[ -n "$S3RVER_PGID" ]] || return 0
  local pid total=0 t
  for pid in $(pgrep -g "$S3RVER_PGID" 2>/dev/null); do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
# record_server TARGET METRIC TICKS0 SECONDS: for targets that use s3rver,
# records the share of one core that s3rver used since TICKS0, over SECONDS:
# near 100 the single-threaded server is what bounds the workload.
record_server() {
  [[ -n "$T_BUCKET" && -n "$3" ]] || return 0
  local now
  now=$(server_ticks)
  record "$1" "$2" "% of a core" "$(awk -v a="$3" -v b="$now" -v s="$4" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f", (s > 0) ? (b - a) / hz / s * 100 : 0 }')"
}

phase_big() {
  local r f secs wait_s store_s base ticks
  mkdir -p "$T_MNT/big"
  for ((r = 1; r <= REPEAT; r++)); do
    f=$T_MNT/big/r$r
    base=$(store_base big/)
    ticks=$(server_ticks)
    secs=$(wl big-write "$f" "$BIG_BYTES")
    wait_s=$(wait_store big/ $((base + BIG_BYTES)))
    store_s=$(add "$secs" "$wait_s")
    record_server "$T_NAME" big_write_store_srv "$ticks" "$store_s"
    record "$T_NAME" big_write MiB/s "$(rate $((BIG_BYTES / MIB)) "$secs")"
    record "$T_NAME" big_write_store MiB/s "$(rate $((BIG_BYTES / MIB)) "$store_s")"
    log "$T_NAME: big write $(human_size "$BIG_BYTES") [$r/$REPEAT] ... $secs s \
($(rate $((BIG_BYTES / MIB)) "$secs") MiB/s); in the store after $store_s s"
    target_cold
    ticks=$(server_ticks)
    secs=$(wl big-read "$f" "$BIG_BYTES")
    record_server "$T_NAME" big_read_cold_srv "$ticks" "$secs"
    record "$T_NAME" big_read_cold MiB/s "$(rate $((BIG_BYTES / MIB)) "$secs")"
    log "$T_NAME: big read cold [$r/$REPEAT] ... $secs s ($(rate $((BIG_BYTES / MIB)) "$secs") MiB/s)"
    secs=$(wl big-read "$f" "$BIG_BYTES")
    record "$T_NAME" big_read_warm MiB/s "$(rate $((BIG_BYTES / MIB)) "$secs")"
    log "$T_NAME: big read warm [$r/$REPEAT] ... $secs s ($(rate $((BIG_BYTES / MIB)) "$secs") MiB/s)"
  done
}

phase_small() {
  local r d secs wait_s store_s base ticks
  for ((r = 1; r <= REPEAT; r++)); do
    d=$T_MNT/small-r$r
    mkdir -p "$d"
    base=$(store_base "small-r$r/")
    ticks=$(server_ticks)
    secs=$(wl small-write "$d" "$SMALL_COUNT" "$SMALL_BYTES")
    wait_s=$(wait_store "small-r$r/" $((base + SMALL_COUNT * SMALL_BYTES)))
    store_s=$(add "$secs" "$wait_s")
    record_server "$T_NAME" small_write_store_srv "$ticks" "$store_s"
    record "$T_NAME" small_write files/s "$(rate "$SMALL_COUNT" "$secs")"
    record "$T_NAME" small_write_store files/s "$(rate "$SMALL_COUNT" "$store_s")"
    log "$T_NAME: small write $SMALL_COUNT files [$r/$REPEAT] ... $secs s \
($(rate "$SMALL_COUNT" "$secs") files/s); in the store after $store_s s"
    target_cold
    ticks=$(server_ticks)
    secs=$(wl small-read "$d" "$SMALL_COUNT" "$SMALL_BYTES")
    record_server "$T_NAME" small_read_cold_srv "$ticks" "$secs"
    record "$T_NAME" small_read_cold files/s "$(rate "$SMALL_COUNT" "$secs")"
    log "$T_NAME: small read cold [$r/$REPEAT] ... $secs s ($(rate "$SMALL_COUNT" "$secs") files/s)"
    secs=$(wl small-read "$d" "$SMALL_COUNT" "$SMALL_BYTES")
    record "$T_NAME" small_read_warm files/s "$(rate "$SMALL_COUNT" "$secs")"
    log "$T_NAME: small read warm [$r/$REPEAT] ... $secs s ($(rate "$SMALL_COUNT" "$secs") files/s)"
  done
}

phase_stat() {
  local r d secs out n failed objects i count=$STAT_COUNT
  # passthrough_ll keeps an open descriptor (O_PATH) for every inode the
  # kernel knows, and a process may hold at most `ulimit -n` of them: keep its
  # set below that, or it fails with EMFILE. Rates stay comparable.
  if [[ "$T_KIND" == passthrough ]] && ((count > $(ulimit -Hn) - 1000)); then
    count=$(($(ulimit -Hn) - 1000))
    note "$T_NAME" "its stat set is $count files, not $STAT_COUNT: passthrough_ll holds one open \
descriptor per inode it knows, and a process may have at most $(ulimit -Hn) open here."
  fi
  # A fresh mount: the inodes of the phases before are forgotten.
  target_cold
  d=$T_MNT/stat
  mkdir -p "$d"
  if [[ "$T_KIND" == s3fs && "$S3FS_STAT_VIA_API" == 1 ]]; then
    # Each s3fs create lists the new name as a prefix, and s3rver answers a
    # listing by walking the whole directory: creates slow down as the
    # directory grows (~55/s at 300 files, ~35/s at 1,200), so 20,000 would
    # take hours. A real S3 lists by index. So the set is put straight into
    # the bucket, with the metadata s3fs writes; the stat pass is unchanged.
    log "$T_NAME: putting $count empty objects into the bucket for the stat pass (S3 API, $STAT_WORKERS processes) ..."
    secs=$(wl s3-put-empty "$S3RVER_URL/$T_BUCKET" stat/ "$count" "$STAT_WORKERS")
    log "$T_NAME: put $count objects in $secs s"
    note "$T_NAME" "its stat set was put into the bucket through the S3 API with s3fs's metadata \
headers (creating it through s3fs on s3rver slows down as the directory grows: s3rver walks the \
whole directory for every prefix listing s3fs makes per create); its small-file writes pay that \
cost too."
  else
    log "$T_NAME: creating $count empty files for the stat pass ($STAT_WORKERS processes) ..."
    secs=$(wl stat-create "$d" "$count" "$STAT_WORKERS")
    record "$T_NAME" stat_create files/s "$(rate "$count" "$secs")"
    log "$T_NAME: created $count files in $secs s ($(rate "$count" "$secs") files/s)"
  fi
  # Targets that upload after close (rclone) must be done before unmounting.
  objects=$(target_path_objects stat/)
  if [[ -n "$objects" ]]; then
    for ((i = 0; objects < count; i++)); do
      if ((i > STORE_STALL * 10)); then
        warn "$T_NAME: only $objects of $count empty files reached the bucket"
        break
      fi
      sleep 0.1
      objects=$(target_path_objects stat/)
    done
  fi
  for ((r = 1; r <= REPEAT; r++)); do
    target_cold
    for pass in cold warm; do
      out=$(wl stat-pass "$d")
      read -r secs n failed <<<"$out"
      if ((n != count || failed != 0)); then
        warn "$T_NAME: stat pass $pass saw $n names of $count, $failed lstat calls failed"
        note "$T_NAME" "stat pass $pass [$r]: saw $n of $count names, $failed lstat calls failed."
      fi
      record "$T_NAME" "stat_$pass" stats/s "$(rate "$n" "$secs")"
      log "$T_NAME: stat pass $pass [$r/$REPEAT] $n files ... $secs s ($(rate "$n" "$secs") stats/s)"
    done
  done
}

phase_rss() {
  local f secs wait_s store_s base max_w max_r
  ((RSS_BYTES > 0)) || return 0
  if [[ -z "$T_PID" ]]; then
    note "$T_NAME" "no RSS: no mount process."
    return 0
  fi
  mkdir -p "$T_MNT/rss"
  f=$T_MNT/rss/big
  base=$(store_base rss/)
  rss_start "$T_PID" "$T_DIR/rss-write"
  secs=$(wl big-write "$f" "$RSS_BYTES")
  wait_s=$(wait_store rss/ $((base + RSS_BYTES)))
  store_s=$(add "$secs" "$wait_s")
  rss_stop "$T_DIR/rss-write"
  max_w=$RSS_MAX
  record "$T_NAME" rss_write MiB/s "$(rate $((RSS_BYTES / MIB)) "$store_s")"
  record "$T_NAME" rss_write_max MiB "$max_w"
  log "$T_NAME: rss write $(human_size "$RSS_BYTES") ... $secs s, in the store after $store_s s; max RSS $max_w MiB"
  # Only the kernel's cache is dropped: a remount would change the process.
  drop_caches
  rss_start "$T_PID" "$T_DIR/rss-read"
  secs=$(wl big-read "$f" "$RSS_BYTES")
  rss_stop "$T_DIR/rss-read"
  max_r=$RSS_MAX
  record "$T_NAME" rss_read MiB/s "$(rate $((RSS_BYTES / MIB)) "$secs")"
  record "$T_NAME" rss_read_max MiB "$max_r"
  log "$T_NAME: rss read $(human_size "$RSS_BYTES") ... $secs s; max RSS $max_r MiB"
}

# run_target NAME: every phase on one target, in a subshell whose exit
# (normal, failure or signal) tears the target down.
run_target() {
  set -e
  target_select "$1"
  trap 'rc=$?; set +e; trap - EXIT; [[ -z "$RSS_SAMPLER" ]] || kill "$RSS_SAMPLER" 2>/dev/null || true; target_teardown; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "$1: setting up"
  target_setup
  log "$1: mounted at $T_MNT"
  phase_big
  phase_small
  phase_stat
  phase_rss
  log "$1: done; tearing down"
}

if ((NEED_S3)) && [[ "$OBJBENCH" == 1 && -x "$SHOAL" ]]; then
  s3_make_bucket objbench
  for ((r = 1; r <= REPEAT; r++)); do
    if AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "$SHOAL" objbench --storage s3 \
        --bucket "$S3RVER_URL/objbench" --threads 8 --small-count 500 --large-count 64 \
        --large-size 4M --json >"$WORKDIR/objbench.json" 2>"$WORKDIR/objbench.log"; then
      read -r get_large put_small < <(perl -MJSON::PP -e '
        my $j = decode_json(do { local $/; <STDIN> });
        my %r = map { ("$_->{op}/$_->{object_size}" => $_) } @{$j->{results}};
        printf "%.2f %.1f\n", $r{"get/4194304"}{mib_per_sec}, $r{"put/4096"}{ops_per_sec};
      ' <"$WORKDIR/objbench.json")
      record s3rver objbench_get_large MiB/s "$get_large"
      record s3rver objbench_put_small objects/s "$put_small"
      log "s3rver: objbench [$r/$REPEAT] 8 in flight: GET 4 MiB $get_large MiB/s, PUT 4 KiB $put_small/s"
    else
      warn "shoal objbench failed: $(tail -2 "$WORKDIR/objbench.log" | tr '\n' ' ')"
      note '*' "shoal objbench failed: no raw s3rver reference."
      break
    fi
  done
  set_status s3rver ok
  rm -rf -- "${S3RVER_DATA:?}/objbench"
fi

for t in "${TARGET_LIST[@]}"; do
  target_describe "$t" | while IFS= read -r line; do
    printf '%s\t%s\t%s\n' "$t" "${line%%: *}" "${line#*: }" >>"$RES/desc.tsv"
  done
done

set -m  # job control: each background job gets its own process group
for t in "${RUN_TARGETS[@]}"; do
  # Not in a condition: that would switch errexit off inside the subshell.
  (run_target "$t") &
  CHILD=$!
  set +e
  wait "$CHILD"
  rc=$?
  set -e
  CHILD=""
  if ((rc == 0)); then
    set_status "$t" ok
  else
    ((rc != 130 && rc != 143)) || exit "$rc"
    warn "$t failed (exit $rc): its figures are partial; see the messages above"
    set_status "$t" failed
    note "$t" "failed (exit $rc) before the end: figures are partial."
  fi
done

if ((NEED_S3)); then
  meta s3rver_restarts "$(s3rver_restarts)"
  s3rver_stop
else
  meta s3rver_restarts 0
fi
meta load_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$(dirname "$OUT")"
report_write "$RES" "$MD_OUT" "$OUT"
log "wrote $OUT and $MD_OUT"
