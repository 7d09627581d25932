#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for a
# bounded time on a copy of its seed corpus (fuzz/corpus/<target>/).
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     default 30
#
# Environment: USP_FUZZ_BUILD_DIR (default <repo>/build-fuzz), USP_FUZZ_JOBS
# (ninja -j, default 2), USP_FUZZ_TARGETS (default: all three),
# USP_FUZZ_NO_BUILD=1 (run the targets already built in USP_FUZZ_BUILD_DIR;
# the ctest entries fuzz_* of a USP_FUZZ tree do this).
# Exit status: 0 when no target found a crash; 1 on a finding (the
# reproducer's path is printed) or when clang / libFuzzer is missing.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
SECONDS_PER_TARGET="${1:-30}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz/run.sh: SECONDS_PER_TARGET must be a positive integer, got '$SECONDS_PER_TARGET'" >&2
  exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
BUILD="${USP_FUZZ_BUILD_DIR:-$REPO/build-fuzz}"
JOBS="${USP_FUZZ_JOBS:-2}"
TARGETS=(${USP_FUZZ_TARGETS:-fuzz_event_decoder fuzz_resource_parser fuzz_query_params})

for tool in clang clang++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fuzz/run.sh: $tool not found; install the Debian packages 'clang libclang-rt-14-dev'" \
         "(scripts/install-deps.sh)" >&2
    exit 1
  fi
done

start=$(date +%s)
if [ "${USP_FUZZ_NO_BUILD:-0}" = 1 ]; then
  echo "fuzz: using the built targets in $BUILD (USP_FUZZ_NO_BUILD=1)"
else
echo "fuzz: configuring $BUILD (clang, -DUSP_FUZZ=ON)"
if [ ! -f "$BUILD/build.ninja" ]; then
  mkdir -p "$BUILD"
  CC=clang CXX=clang++ cmake -S "$REPO" -B "$BUILD" -G Ninja -DUSP_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DUSP_WERROR=OFF >"$BUILD/configure.log" 2>&1 || {
      cat "$BUILD/configure.log" >&2
      echo "fuzz/run.sh: configuring $BUILD failed (log above)" >&2
      exit 1
    }
fi
echo "fuzz: building ${TARGETS[*]} (ninja -j$JOBS)"
ninja -C "$BUILD" -j"$JOBS" "${TARGETS[@]}"
echo "fuzz: built in $(( $(date +%s) - start ))s"
fi

WORK="$BUILD/fuzz-run"
for target in "${TARGETS[@]}"; do rm -rf "${WORK:?}/$target"; done
failed=()
for target in "${TARGETS[@]}"; do
  corpus="$WORK/$target/corpus"
  artifacts="$WORK/$target/artifacts/"
  mkdir -p "$corpus" "$artifacts"
  cp "$HERE/corpus/$target/"* "$corpus/"
  dict=()
  [ -f "$HERE/dict/$target.dict" ] && dict=(-dict="$HERE/dict/$target.dict")
  echo "fuzz: running $target for ${SECONDS_PER_TARGET}s (log: $WORK/$target/log)"
  set +e
  "$BUILD/fuzz/$target" "$corpus" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
    >"$WORK/$target/log" 2>&1
  rc=$?
  set -e
  grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$WORK/$target/log" | tail -2 || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$WORK/$target/log" >&2
    for repro in "$artifacts"*; do
      [ -e "$repro" ] && echo "fuzz: $target FOUND A BUG, reproducer: $repro" \
        "(replay: $BUILD/fuzz/$target $repro)" >&2
    done
    failed+=("$target")
  fi
done

echo "fuzz: done in $(( $(date +%s) - start ))s"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz/run.sh: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings"
