#!/usr/bin/env bash
# First contact: installs dependencies, builds, formats a demo volume on the
# embedded default (RocksDB metadata + a local directory as object store) and
# mounts it at /mnt/shoal-demo. Running it again reuses the volume and the
# mount. Needs root for the mount (sudo is used when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=${SHOAL_DEMO_DIR:-/var/lib/shoal}
MOUNTPOINT=${SHOAL_DEMO_MOUNTPOINT:-/mnt/shoal-demo}
META_PATH="$STATE_DIR/demo.meta"
META_URL="rocksdb://$META_PATH"
BUCKET="$STATE_DIR/demo.data"
SHOAL="$PWD/${BUILD_DIR:-build}/bin/shoal"

log() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  AS_ROOT=()
elif command -v sudo >/dev/null; then
  AS_ROOT=(sudo)
else
  die "mounting needs root and sudo is missing: run this script as root"
fi

scripts/setup.sh
scripts/build.sh
[[ -x "$SHOAL" ]] || die "the build did not produce $SHOAL"

# Whether a path is a mount point, read from the mount table: mountpoint(1)
# cannot tell on a dead FUSE mount, whose stat fails.
is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# A mount whose daemon died (killed, crashed) answers every access with
# "Transport endpoint is not connected": detach it, then mount again below.
if is_mounted "$MOUNTPOINT" && ! "${AS_ROOT[@]}" stat "$MOUNTPOINT" >/dev/null 2>&1; then
  log "$MOUNTPOINT is a dead mount: detaching it"
  "${AS_ROOT[@]}" fusermount3 -uz "$MOUNTPOINT" || "${AS_ROOT[@]}" umount -l "$MOUNTPOINT"
fi

if is_mounted "$MOUNTPOINT"; then
  # While mounted, RocksDB admits only the mount: ask it, not the meta URL.
  "${AS_ROOT[@]}" "$SHOAL" status "$MOUNTPOINT" >/dev/null ||
    die "$MOUNTPOINT is mounted but is not a working shoal mount: unmount it and run again"
  log "$MOUNTPOINT is already mounted"
else
  "${AS_ROOT[@]}" mkdir -p "$STATE_DIR" "$MOUNTPOINT"
  if [[ -e "$META_PATH" ]]; then
    "${AS_ROOT[@]}" "$SHOAL" status "$META_URL" >/dev/null ||
      die "$META_PATH exists but is not a usable volume (see above): move it away and run again"
    log "reusing the demo volume in $META_PATH"
  else
    log "formatting the demo volume: metadata $META_URL, data in $BUCKET"
    "${AS_ROOT[@]}" "$SHOAL" format "$META_URL" demo --storage file --bucket "$BUCKET"
  fi
  log "mounting at $MOUNTPOINT"
  "${AS_ROOT[@]}" "$SHOAL" mount "$META_URL" "$MOUNTPOINT" --background \
    --log "$STATE_DIR/demo.log"
fi

cat <<NEXT

shoal is mounted at $MOUNTPOINT. Try:
  echo hello > $MOUNTPOINT/hello.txt && cat $MOUNTPOINT/hello.txt
  $SHOAL status $MOUNTPOINT            # the volume, its usage and its mounts
  $SHOAL info $MOUNTPOINT/hello.txt    # how a file is stored
  $SHOAL umount $MOUNTPOINT            # when done (the data stays in $STATE_DIR)
The daemon logs to $STATE_DIR/demo.log. Run scripts/demo.sh again to remount.
NEXT
