#!/usr/bin/env bash
# Configures and builds USP. Usage: scripts/build.sh [BUILD_DIR]
#   USP_SANITIZE=1   ASan+UBSan build with clang (default dir: build-asan;
#                    build type Sanitize: -O1 -g1)
#   USP_FUZZ=1       with USP_SANITIZE=1: also the libFuzzer targets of fuzz/
#                    and their ctest entries
#   USP_BUILD_TYPE   CMake build type (default RelWithDebInfo; Sanitize with
#                    USP_SANITIZE=1)
#   CXX / CC         compiler of a plain build (default: the system c++)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=OFF
if [ "${USP_SANITIZE:-0}" = 1 ]; then
  BUILD=${1:-$ROOT/build-asan}; SAN=ON; TYPE=${USP_BUILD_TYPE:-Sanitize}
  # clang: its ASan build compiles about twice as fast as g++'s, and libFuzzer
  # comes with it (scripts/install-deps.sh installs both).
  export CC=${CC:-clang} CXX=${CXX:-clang++}
  [ "${USP_FUZZ:-0}" = 1 ] && FUZZ=ON
else
  BUILD=${1:-$ROOT/build}; SAN=OFF; TYPE=${USP_BUILD_TYPE:-RelWithDebInfo}
fi
"$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$TYPE" \
  -DUSP_SANITIZE="$SAN" -DUSP_FUZZ="$FUZZ" -DUSP_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
