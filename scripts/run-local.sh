#!/usr/bin/env bash
# Runs the platform on this machine: builds USP, then `uspctl local` on the
# example resources with the embedded Kafka broker and synthetic events.
# Extra arguments go to `uspctl local` (e.g. --query-port 0).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/build.sh" "$ROOT/build"
exec "$ROOT/build/cli/uspctl" local --resources "$ROOT/examples" --generate-events 50 \
  --state-dir "$ROOT/.usp-local" "$@"
