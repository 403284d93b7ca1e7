#!/usr/bin/env bash
# Configures and builds shoal into ./build (or $BUILD_DIR).
# Extra arguments go to the configure step, e.g. -DCMAKE_BUILD_TYPE=Debug.
#
# Builds with Ninja when it is installed (scripts/setup.sh installs it), and
# compiles through ccache (see the top-level CMakeLists.txt; -DSHOAL_CCACHE=OFF
# turns it off). `ccache -s` shows how many compiles the cache saved.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

GENERATOR=()
if command -v ninja >/dev/null; then
  GENERATOR=(-G Ninja)
fi
# A build dir configured with another generator cannot be switched in place:
# start its configuration over (the compiler cache keeps the objects).
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  configured=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt")
  wanted=${GENERATOR[1]:-Unix Makefiles}
  if [[ "$configured" != "$wanted" ]]; then
    echo "[build] $BUILD_DIR was configured for '$configured': configuring it again for '$wanted'"
    rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
  fi
fi

echo "[build] configuring $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" ||
  { echo "[build] error: configuring failed (see above)" >&2; exit 1; }
echo "[build] building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS" ||
  { echo "[build] error: the build failed (the first error above is the one to fix)" >&2; exit 1; }
echo "[build] done: $BUILD_DIR/bin/shoal"
