#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors
# and runs the unit, integration and end-to-end tests with CTest.
#
#   scripts/test.sh [ctest args]   the suite under ASan+UBSan+LSan: a clang tree
#                                  in build-asan/ (-O1, test code -O0), plus
#                                  each libFuzzer target fuzzing for 30 s
#                                  (ctest fuzz_*); CI (.ci/run) runs this on a
#                                  clean clone
#   USP_SANITIZE=0 scripts/test.sh the same suite on the plain build in build/
#                                  (g++, RelWithDebInfo), the tree bench/ and
#                                  run-local.sh use
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
if [ "${USP_SANITIZE:-1}" = 1 ]; then
  BUILD=$ROOT/build-asan
  # Sanitizer reports fail the test that triggers them: UBSan aborts
  # (-fno-sanitize-recover), ASan and LeakSanitizer exit non-zero.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:check_initialization_order=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  USP_SANITIZE=1 USP_FUZZ=1 "$ROOT/scripts/build.sh" "$BUILD"
else
  BUILD=$ROOT/build
  USP_SANITIZE=0 "$ROOT/scripts/build.sh" "$BUILD"
fi
cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
