#!/usr/bin/env bash
# Configures and builds shoal into ./build (or $BUILD_DIR).
# Extra arguments go to the configure step, e.g. -DCMAKE_BUILD_TYPE=Debug.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

echo "[build] configuring $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" ||
  { echo "[build] error: configuring failed (see above)" >&2; exit 1; }
echo "[build] building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS" ||
  { echo "[build] error: the build failed (the first error above is the one to fix)" >&2; exit 1; }
echo "[build] done: $BUILD_DIR/bin/shoal"
