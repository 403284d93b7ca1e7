# shellcheck shell=bash
# The file systems bench/peers.sh compares, each behind the same small set of
# functions. Sourced, not run; needs common.sh and s3rver.sh, and these
# globals from the caller: WORKDIR, SHOAL, S3RVER_URL, S3RVER_DATA, PT_BIN
# (the passthrough_ll binary), and the *_ARGS variables described in
# peers.sh.
#
#   target_select NAME      sets T_* for NAME (T_DIR, T_MNT, T_KIND, ...)
#   target_setup            creates the target (format, buckets, config) and mounts it
#   target_cold             makes the next read cold, as the target defines it
#   target_unmount / target_mount
#   target_store_bytes P    "DONE ALL": bytes of finished objects in the
#                           target's store (under key prefix P for targets with
#                           one object per file), and with partial uploads
#                           counted too; "" if it has no store beyond the file
#                           system itself
#   target_path_objects P   objects under key prefix P, for targets that keep
#                           one object per file ("" for the others)
#   target_teardown         unmounts and removes the target's files and bucket
#   target_describe NAME    what the target is, what "cold" and "in the
#                           store" mean for it (one line each, "key: text")
#
# Shoal targets: shoal-file, shoal-s3, shoal-s3-cache, and any variant in
# SHOAL_VARIANTS ("NAME:file|s3:MOUNT ARGS;..."; "{cache}" in the args stands
# for the target's cache directory, which a cold read empties first).

declare -A SHOAL_STORE=()
declare -A SHOAL_ARGS=()

T_NAME=""
T_DIR=""
T_MNT=""
T_KIND=""    # raw, passthrough, shoal, s3fs, rclone
T_PT_ARGS="" # passthrough_ll options of the passthrough kinds
T_BUCKET=""  # s3 targets
T_PID=""     # the mount's process
T_CACHE=""   # a local cache directory that "cold" empties

# shoal_variants_init: fills SHOAL_STORE and SHOAL_ARGS.
shoal_variants_init() {
  local entry name store args
  SHOAL_STORE[shoal-file]="file"
  SHOAL_ARGS[shoal-file]=${SHOAL_MOUNT_ARGS_FILE:-}
  SHOAL_STORE[shoal-s3]=s3
  SHOAL_ARGS[shoal-s3]=${SHOAL_MOUNT_ARGS_S3:-}
  SHOAL_STORE[shoal-s3-cache]=s3
  SHOAL_ARGS[shoal-s3-cache]="--cache-dir {cache} --cache-size ${CACHE_SIZE:-10G} ${SHOAL_MOUNT_ARGS_S3CACHE:-}"
  local IFS=';'
  for entry in ${SHOAL_VARIANTS:-}; do
    [[ -n "${entry// /}" ]] || continue
    name=${entry%%:*}
    store=${entry#*:}
    store=${store%%:*}
    args=${entry#*:*:}
    [[ "$name" =~ ^shoal-[A-Za-z0-9_-]+$ ]] ||
      die "SHOAL_VARIANTS: '$name' is not a name of the form shoal-NAME"
    [[ "$store" == file || "$store" == s3 ]] ||
      die "SHOAL_VARIANTS: $name: the store must be file or s3, not '$store'"
    SHOAL_STORE[$name]=$store
    SHOAL_ARGS[$name]=$args
  done
}

target_select() {
  T_NAME=$1
  T_DIR=$WORKDIR/$1
  T_MNT=$T_DIR/mnt
  T_BUCKET=""
  T_PID=""
  T_CACHE=""
  case "$1" in
    raw) T_KIND=raw; T_MNT=$T_DIR/dir ;;
    passthrough) T_KIND=passthrough; T_PT_ARGS="" ;;
    passthrough-cached) T_KIND=passthrough; T_PT_ARGS="-o cache=always" ;;
    s3fs) T_KIND=s3fs; T_BUCKET=s3fs ;;
    rclone) T_KIND=rclone; T_BUCKET=rclone; T_CACHE=$T_DIR/vfs-cache ;;
    shoal-*)
      [[ -n "${SHOAL_STORE[$1]:-}" ]] || die "unknown target $1"
      T_KIND=shoal
      if [[ "${SHOAL_STORE[$1]}" == s3 ]]; then
        T_BUCKET=$1
        T_BUCKET=${T_BUCKET,,}
        T_BUCKET=${T_BUCKET//_/-}
      fi
      if [[ "${SHOAL_ARGS[$1]}" == *"{cache}"* ]]; then
        T_CACHE=$T_DIR/cache
      fi
      ;;
    *) die "unknown target $1" ;;
  esac
}

# extra_args ARGS: " ARGS" with blanks trimmed, or nothing.
extra_args() {
  local a
  a=$(echo "$1" | xargs)
  [[ -z "$a" ]] || echo " $a"
}

s3_warm_text() {
  [[ "${S3_WARM:-1}" != 1 ]] || echo ", re-read s3rver's files into the page cache (server warm)"
}

target_describe() {
  local name=$1 store args
  case "$name" in
    raw)
      echo "setup: a plain directory on the disk that holds the work directory"
      echo "cold: sync, then drop the kernel caches (echo 3 > /proc/sys/vm/drop_caches): reads come from the disk"
      echo "in store: at close (the page cache; nothing is fsync'ed but the big file)"
      ;;
    passthrough)
      echo "setup: libfuse's passthrough_ll example (-o source=DIR, default options: cache=normal, 1 s timeouts) over a directory on the same disk$(extra_args "${PASSTHROUGH_ARGS:-}")"
      echo "cold: unmount, drop the kernel caches, mount again"
      echo "in store: at close, as for the raw disk"
      ;;
    passthrough-cached)
      echo "setup: the same passthrough_ll with -o cache=always (the kernel keeps file pages across opens, and names and attributes for a day): the FUSE ceiling for cached reads$(extra_args "${PASSTHROUGH_ARGS:-}")"
      echo "cold: unmount, drop the kernel caches, mount again"
      echo "in store: at close, as for the raw disk"
      ;;
    s3fs)
      echo "setup: s3fs $(s3fs --version 2>/dev/null | head -1 | awk '{ print $(NF-3) }') -o url=http://127.0.0.1:PORT -o use_path_request_style -o passwd_file=F$(extra_args "${S3FS_ARGS:-}") (no local cache: use_cache is off by default)"
      echo "cold: unmount, drop the kernel caches$(s3_warm_text), mount again: reads go to s3rver"
      echo "in store: the objects' bytes are in s3rver's directory (s3fs uploads at flush/close, so this is reached when close returns)"
      ;;
    rclone)
      echo "setup: rclone $(rclone version 2>/dev/null | head -1 | awk '{ print $2 }') mount, s3 remote (provider Other, path style), --vfs-cache-mode full, cache dir on the same disk$(extra_args "${RCLONE_ARGS:-}")"
      echo "cold: unmount, empty the VFS cache directory, drop the kernel caches$(s3_warm_text), mount again: reads go to s3rver"
      echo "in store: the objects' bytes are in s3rver's directory (rclone uploads after close, by default 5 s later: --vfs-write-back)"
      ;;
    shoal-*)
      store=${SHOAL_STORE[$name]}
      args=${SHOAL_ARGS[$name]//\{cache\}/CACHE_DIR}
      args=$(echo "$args" | xargs)  # blanks trimmed
      if [[ "$store" == file ]]; then
        echo "setup: shoal format --storage file (a data directory on the same disk, metadata in RocksDB on the same disk), shoal mount ${args:-(default options)}"
        echo "in store: the objects' bytes are in the data directory"
      else
        echo "setup: shoal format --storage s3 on s3rver (metadata in RocksDB on the local disk), shoal mount ${args:-(default options)}"
        echo "in store: the objects' bytes are in s3rver's directory"
      fi
      local cold="cold: unmount (waits for the mount to exit)"
      [[ "${SHOAL_ARGS[$name]}" != *"{cache}"* ]] || cold+=", empty the cache directory"
      cold+=", drop the kernel caches"
      [[ "$store" == file ]] || cold+=$(s3_warm_text)
      echo "$cold, mount again: reads go to the store"
      ;;
  esac
}

# The mount's extra arguments, split on blanks, {cache} replaced.
shoal_mount_args() {
  local args=${SHOAL_ARGS[$T_NAME]//\{cache\}/$T_CACHE}
  # shellcheck disable=SC2206  # splitting on blanks is the contract
  SHOAL_MOUNT_ARGV=($args)
}

target_mount() {
  case "$T_KIND" in
    raw) return 0 ;;
    passthrough)
      # shellcheck disable=SC2086  # extra options split on blanks
      "$PT_BIN" -f -o "source=$T_DIR/src" $T_PT_ARGS ${PASSTHROUGH_ARGS:-} "$T_MNT" \
        >>"$T_DIR/mount.log" 2>&1 &
      ;;
    shoal)
      shoal_mount_args
      AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
        "$SHOAL" mount "rocksdb://$T_DIR/meta" "$T_MNT" -f --log "$T_DIR/mount.log" \
        "${SHOAL_MOUNT_ARGV[@]}" >>"$T_DIR/mount.out" 2>&1 &
      ;;
    s3fs)
      # shellcheck disable=SC2086
      s3fs "$T_BUCKET" "$T_MNT" -f -o "url=$S3RVER_URL" -o use_path_request_style \
        -o "passwd_file=$T_DIR/passwd" ${S3FS_ARGS:-} >>"$T_DIR/mount.log" 2>&1 &
      ;;
    rclone)
      # AWS_CA_BUNDLE (set in some environments) makes rclone fail before it
      # talks to the server (LoadCustomCABundleError), even over http.
      # shellcheck disable=SC2086
      env -u AWS_CA_BUNDLE rclone mount "bench:$T_BUCKET" "$T_MNT" --config "$T_DIR/rclone.conf" \
        --vfs-cache-mode full --cache-dir "$T_CACHE" ${RCLONE_ARGS:-} \
        >>"$T_DIR/mount.log" 2>&1 &
      ;;
  esac
  T_PID=$!
  echo "$T_PID" >>"$WORKDIR/pids"
  if ! wait_mounted "$T_MNT" "$T_PID" 60; then
    tail -n 20 "$T_DIR/mount.log" "$T_DIR/mount.out" 2>/dev/null >&2 || true
    die "$T_NAME: the mount did not come up (its log is above: $T_DIR/mount.log)"
  fi
}

target_unmount() {
  [[ "$T_KIND" != raw ]] || return 0
  fuse_unmount "$T_MNT" "$T_PID" "${UMOUNT_TIMEOUT:-600}"
  T_PID=""
}

target_setup() {
  rm -rf -- "$T_DIR"
  mkdir -p "$T_DIR"
  case "$T_KIND" in
    raw) mkdir -p "$T_MNT" ;;
    passthrough) mkdir -p "$T_DIR/src" "$T_MNT" ;;
    shoal)
      mkdir -p "$T_MNT"
      [[ -z "$T_CACHE" ]] || mkdir -p "$T_CACHE"
      local fmt=("$SHOAL" format "rocksdb://$T_DIR/meta" peers)
      if [[ "${SHOAL_STORE[$T_NAME]}" == file ]]; then
        fmt+=(--storage file --bucket "$T_DIR/data")
      else
        fmt+=(--storage s3 --bucket "$S3RVER_URL/$T_BUCKET")
      fi
      if ! AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "${fmt[@]}" \
          >"$T_DIR/format.log" 2>&1; then
        cat "$T_DIR/format.log" >&2
        die "$T_NAME: shoal format failed (above)"
      fi
      ;;
    s3fs)
      mkdir -p "$T_MNT"
      s3_make_bucket "$T_BUCKET"
      echo "S3RVER:S3RVER" >"$T_DIR/passwd"
      chmod 600 "$T_DIR/passwd"
      ;;
    rclone)
      mkdir -p "$T_MNT" "$T_CACHE"
      s3_make_bucket "$T_BUCKET"
      cat >"$T_DIR/rclone.conf" <<EOF
[bench]
type = s3
provider = Other
access_key_id = S3RVER
secret_access_key = S3RVER
endpoint = $S3RVER_URL
force_path_style = true
EOF
      ;;
  esac
  target_mount
}

target_cold() {
  if [[ "$T_KIND" == raw ]]; then
    drop_caches
    return
  fi
  target_unmount
  if [[ -n "$T_CACHE" ]]; then
    find "$T_CACHE" -mindepth 1 -delete
  fi
  drop_caches
  if [[ -n "$T_BUCKET" && "${S3_WARM:-1}" == 1 ]]; then
    # The server side stays warm, as a real S3 service's would, and as in the
    # objbench reference: s3rver's files go back into the page cache, so a
    # cold read measures the client, not this disk.
    find "$S3RVER_DATA/$T_BUCKET" -type f -exec cat {} + >/dev/null 2>&1 || true
  fi
  target_mount
}

target_store_bytes() {
  case "$T_KIND" in
    raw | passthrough) echo "" ;;
    shoal)
      if [[ -n "$T_BUCKET" ]]; then
        s3_bucket_bytes "$T_BUCKET"
      else
        # Objects are written in .tmp and renamed into place: only those
        # outside .tmp are done.
        { find "$T_DIR/data" -type f -printf '%s %p\n' 2>/dev/null || true; } |
          awk '{ all += $1; if (index($2, "/.tmp/") == 0) done += $1 }
               END { printf "%.0f %.0f\n", done, all }'
      fi
      ;;
    s3fs | rclone) s3_bucket_bytes "$T_BUCKET" "$1" ;;
  esac
}

target_path_objects() {
  case "$T_KIND" in
    s3fs | rclone) s3_bucket_count "$T_BUCKET" "$1" ;;
    *) echo "" ;;
  esac
}

target_teardown() {
  target_unmount
  # Only once nothing is mounted below it: never delete through a mount.
  if [[ -z "$(mounts_under "$T_DIR")" ]]; then
    rm -rf -- "$T_DIR"
  else
    warn "$T_NAME: something is still mounted under $T_DIR: leaving it"
  fi
  if [[ -n "$T_BUCKET" && -n "$S3RVER_DATA" ]]; then
    rm -rf -- "${S3RVER_DATA:?}/$T_BUCKET"
  fi
}
