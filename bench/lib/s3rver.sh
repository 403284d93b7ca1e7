# shellcheck shell=bash
# A local S3 server (s3rver, from npm) for benchmarks: loopback only, data in
# a directory the caller owns. Sourced, not run; needs common.sh.
#
# s3rver keeps every object as a file, DATA/BUCKET/KEY._S3rver_object, written
# before the request is answered, so counting those files (and their bytes) is
# the cheapest honest check of what a client has put in a bucket.
#
# s3rver 3.7 crashes (an unhandled ENOENT) when a PUT races a DELETE that
# prunes the PUT's directory; clients that delete while they write (shoal's
# garbage collection) hit it. So it runs under a loop that restarts it on the
# same port at once, in its own process group; requests in flight fail and
# the clients retry them. Without --openssl-legacy-provider, every paginated
# listing fails with HTTP 500.
#
# After s3rver_start: S3RVER_URL (http://127.0.0.1:PORT), S3RVER_DATA.

# shellcheck source=../../scripts/lib/loopback.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/loopback.sh"

S3RVER_PGID=""
S3RVER_URL=""
S3RVER_DATA=""
S3RVER_LOG=""

# The s3rver executable: $S3RVER, else where scripts/setup.sh installs it.
s3rver_bin() {
  if [[ -n "${S3RVER:-}" ]]; then
    echo "$S3RVER"
    return
  fi
  echo "$(test_tools_dir)/node_modules/.bin/s3rver"
}

# s3rver_start DIR: starts s3rver with its data in DIR/data, its log in DIR/log.
s3rver_start() {
  local dir=$1 bin port attempt i
  bin=$(s3rver_bin)
  [[ -x "$bin" ]] || die "s3rver is not installed at $bin: run scripts/setup.sh, or set S3RVER"
  mkdir -p "$dir/data"
  S3RVER_DATA=$dir/data
  S3RVER_LOG=$dir/log
  for ((attempt = 0; attempt < 3; attempt++)); do
    port=$(free_port) || die "no free loopback port for s3rver"
    # shellcheck disable=SC2016  # expanded by the inner shell
    NODE_OPTIONS=--openssl-legacy-provider setsid bash -c '
      while :; do
        "$0" -d "$1" -a 127.0.0.1 -p "$2" --silent
        echo "[s3rver exited with status $?; restarting]"
        sleep 0.2
      done' "$bin" "$S3RVER_DATA" "$port" >>"$S3RVER_LOG" 2>&1 &
    S3RVER_PGID=$!
    for ((i = 0; i < 100; i++)); do
      if http_answers "$port"; then
        S3RVER_URL="http://127.0.0.1:$port"
        return 0
      fi
      sleep 0.1
    done
    s3rver_stop  # not answering after 10 s (the port may have been taken)
  done
  cat "$S3RVER_LOG" >&2 || true
  die "s3rver did not start (its log is above)"
}

s3rver_stop() {
  if [[ -n "$S3RVER_PGID" ]]; then
    kill -- "-$S3RVER_PGID" 2>/dev/null || true
    wait "$S3RVER_PGID" 2>/dev/null || true
    S3RVER_PGID=""
  fi
}

# How often s3rver crashed and was restarted so far.
s3rver_restarts() {
  grep -c 'restarting' "$S3RVER_LOG" 2>/dev/null || true
}

# s3_make_bucket NAME: creates a bucket (s3rver accepts unsigned requests).
s3_make_bucket() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$S3RVER_URL/$1") || code=000
  [[ "$code" == 200 || "$code" == 409 ]] ||
    die "could not create bucket $1 on $S3RVER_URL (HTTP $code)"
}

# s3_bucket_bytes NAME [PREFIX]: "DONE ALL": bytes of the objects in a
# bucket (under a key prefix that names a folder, e.g. "stat/"), and that
# plus the bytes of unfinished multipart uploads (progress), read from
# s3rver's directory.
s3_bucket_bytes() {
  local bucket="$S3RVER_DATA/$1" dir="$S3RVER_DATA/$1/${2:-}" objs=0 parts=0
  # Objects may vanish during the walk (deletes): find's complaint is no failure.
  if [[ -d "$dir" ]]; then
    objs=$({ find "$dir" -type f -name '*._S3rver_object' -printf '%s\n' 2>/dev/null || true; } |
           awk '{ s += $1 } END { printf "%.0f\n", s }')
  fi
  if [[ -d "$bucket/._S3rver_uploads" ]]; then
    parts=$({ find "$bucket/._S3rver_uploads" -type f -printf '%s\n' 2>/dev/null || true; } |
            awk '{ s += $1 } END { printf "%.0f\n", s }')
  fi
  echo "$objs $((objs + parts))"
}

# s3_bucket_count NAME [PREFIX]: how many objects a bucket holds (under PREFIX).
s3_bucket_count() {
  local dir="$S3RVER_DATA/$1/${2:-}"
  [[ -d "$dir" ]] || { echo 0; return; }
  { find "$dir" -type f -name '*._S3rver_object' 2>/dev/null || true; } | wc -l
}
