#!/usr/bin/env bash
# Configures and builds USP. Usage: scripts/build.sh [BUILD_DIR]
#   USP_SANITIZE=1   ASan+UBSan build (default dir: build-asan)
#   USP_BUILD_TYPE   CMake build type (default RelWithDebInfo)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${USP_SANITIZE:-0}" = 1 ]; then
  BUILD=${1:-$ROOT/build-asan}; SAN=ON
else
  BUILD=${1:-$ROOT/build}; SAN=OFF
fi
"$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${USP_BUILD_TYPE:-RelWithDebInfo}" \
  -DUSP_SANITIZE="$SAN" -DUSP_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
