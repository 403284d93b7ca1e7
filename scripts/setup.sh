#!/usr/bin/env bash
# Installs what shoal needs to build and test on Debian 12: compilers, the
# libraries it links, and the tools its tests run. Safe to run again: it only
# asks apt for what is missing, and refreshes the package lists at most once.
set -euo pipefail

# Build tools, libraries (see DESIGN.md, "Dependencies"), test tools
# (fuse3: fusermount3; psmisc: fuser; attr/acl: xattr and ACL tools;
# redis-server: the server scripts/test.sh starts for the redis tests; ninja-build
# and ccache: a fast build, see scripts/build.sh).
PACKAGES=(
  build-essential cmake pkg-config git ninja-build ccache
  libfuse3-dev fuse3
  librocksdb-dev
  libcurl4-openssl-dev libssl-dev libpugixml-dev
  libhiredis-dev
  libzstd-dev liblz4-dev libxxhash-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy clang-tidy-19
  attr acl psmisc
  redis-server
)

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  die "this script needs a Debian-based system (apt-get and dpkg-query were not found)"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages are installed"
else
  if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    die "not root and sudo is missing: run as root to install ${missing[*]}"
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "missing: ${missing[*]}"
  log "refreshing package lists (apt-get update)"
  "${SUDO[@]}" apt-get update -q || die "apt-get update failed (is the network or the mirror reachable?)"
  log "installing ${#missing[@]} packages"
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
  log "installed: ${missing[*]}"
fi

# --- Test tools from npm ------------------------------------------------------
# s3rver, an S3 server for the tests (loopback only), goes into a tools
# directory outside the repository: /opt/shoal-test-tools for root, else
# ~/.cache/shoal-test-tools, or $SHOAL_TEST_TOOLS. scripts/test.sh looks in
# the same place.
S3RVER_VERSION=3.7.1
# shellcheck source-path=SCRIPTDIR source=lib/loopback.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/loopback.sh"
TOOLS_DIR=$(test_tools_dir)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # Only when missing: a node installed some other way (with its own npm)
  # must not be replaced by Debian's.
  log "node or npm is missing: installing nodejs and npm from Debian"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q || die "apt-get update failed (is the network or the mirror reachable?)"
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends nodejs npm ||
    die "apt-get install failed for: nodejs npm"
fi

installed_s3rver=$(node -p "require('$TOOLS_DIR/node_modules/s3rver/package.json').version" \
                   2>/dev/null || true)
if [[ "$installed_s3rver" == "$S3RVER_VERSION" && -x "$TOOLS_DIR/node_modules/.bin/s3rver" ]]; then
  log "s3rver $S3RVER_VERSION is installed in $TOOLS_DIR"
else
  log "installing s3rver $S3RVER_VERSION into $TOOLS_DIR (npm)"
  mkdir -p "$TOOLS_DIR" || die "cannot create $TOOLS_DIR: set SHOAL_TEST_TOOLS to a writable directory"
  npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --save-exact --loglevel=error \
      "s3rver@$S3RVER_VERSION" ||
    die "npm install of s3rver@$S3RVER_VERSION failed (is the npm registry reachable?)"
  log "installed s3rver $S3RVER_VERSION"
fi

# Mounting needs the FUSE device; building and unit tests do not.
if [[ ! -e /dev/fuse ]]; then
  log "warning: /dev/fuse is missing: mounts and the mount tests will not work here"
fi
