#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors,
# runs unit, integration and end-to-end tests with CTest.
#   USP_SANITIZE=1 scripts/test.sh   runs the same suite under ASan+UBSan
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${USP_SANITIZE:-0}" = 1 ]; then BUILD=$ROOT/build-asan; else BUILD=$ROOT/build; fi
"$ROOT/scripts/build.sh" "$BUILD"
cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
