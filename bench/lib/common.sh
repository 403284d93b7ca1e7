# shellcheck shell=bash
# Helpers shared by the bench scripts: logging, sizes, clocks, mounts.
# Sourced, not run. Callers set LOG_TAG (e.g. "peers") before using log/die.

LOG_TAG=${LOG_TAG:-bench}

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
warn() { printf '[%s] warning: %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# Seconds since the epoch with microseconds (bash 5's EPOCHREALTIME).
now() { printf '%s\n' "$EPOCHREALTIME"; }

# elapsed START: seconds since START (a value of now()), 3 decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'; }

# parse_size 4K|64M|1G|123: bytes (powers of 1024). Fails on anything else.
parse_size() {
  local s=$1 n unit
  if [[ ! "$s" =~ ^([0-9]+)([KMGT]?)(i?B)?$ ]]; then
    return 1
  fi
  n=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[2]}
  case "$unit" in
    K) n=$((n << 10)) ;;
    M) n=$((n << 20)) ;;
    G) n=$((n << 30)) ;;
    T) n=$((n << 40)) ;;
  esac
  echo "$n"
}

# human_size BYTES: "1 GiB", "64 MiB", "4 KiB".
human_size() {
  awk -v b="$1" 'BEGIN {
    split("B KiB MiB GiB TiB", u, " "); i = 1
    while (b >= 1024 && i < 5 && b % 1024 == 0) { b /= 1024; i++ }
    printf "%d %s\n", b, u[i] }'
}

# div A B [DECIMALS]: A / B, or "NA" when either is empty/NA or B is 0.
div() {
  awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN {
    if (a == "" || b == "" || a == "NA" || b == "NA" || b + 0 == 0) { print "NA"; exit }
    printf "%.*f\n", d, a / b }'
}

# is_mounted DIR: whether DIR is a mount point now.
is_mounted() {
  awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# mounts_under DIR: mount points below DIR, deepest first.
mounts_under() {
  awk -v d="$1/" 'index($5, d) == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2-
}

# wait_mounted DIR PID SECONDS: waits until DIR is a mount point; fails if PID
# exits first or the time runs out.
wait_mounted() {
  local dir=$1 pid=$2 limit=$3 i
  for ((i = 0; i < limit * 10; i++)); do
    is_mounted "$dir" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# wait_pid_exit PID SECONDS: waits until PID (a child of this shell or not)
# is gone; fails when the time runs out.
wait_pid_exit() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    # A zombie child counts as gone; reap it.
    if [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" == Z ]]; then
      wait "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# fuse_unmount DIR PID [SECONDS]: unmounts a FUSE mount and waits for its
# daemon to exit (a daemon may commit or upload at unmount: SECONDS, default
# 300). Falls back to a lazy unmount and then to signals. Never fails.
fuse_unmount() {
  local dir=$1 pid=${2:-} limit=${3:-300} i
  for ((i = 0; i < 10; i++)); do
    is_mounted "$dir" || break
    fusermount3 -u "$dir" 2>/dev/null && break
    sleep 1  # busy: a reader may still be closing
  done
  if is_mounted "$dir"; then
    warn "$dir stays busy: detaching it (fusermount3 -uz)"
    fusermount3 -uz "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
  fi
  [[ -n "$pid" ]] || return 0
  if ! wait_pid_exit "$pid" "$limit"; then
    warn "process $pid did not exit ${limit} s after unmount: stopping it"
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

# drop_caches: writes dirty pages back and empties the kernel's page, dentry
# and inode caches (root only).
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# median V...: the median of the numeric arguments ("NA" ignored; "NA" if none).
median() {
  printf '%s\n' "$@" | awk '$1 != "NA" && $1 != "" { v[n++] = $1 }
    END {
      if (n == 0) { print "NA"; exit }
      # insertion sort: n is small
      for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
      if (n % 2) m = v[int(n / 2)]; else m = (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%.6g\n", m
    }'
}
