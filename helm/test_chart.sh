#!/usr/bin/env bash
# Lints and renders the usp chart with the real helm and checks the rendered
# manifests (least privilege, Pod Security "restricted", no inline secrets),
# then checks the CRDs (schemas, defaults, CEL rules, chart copy identical).
# Installs helm with scripts/install-helm.sh when missing.
# Output ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

HELM=${HELM:-}
if [ -z "$HELM" ]; then
  HELM=$("$ROOT/scripts/install-helm.sh" --quiet)
fi

# A python3 with PyYAML (Debian: python3-yaml).
PY=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  echo "test_chart: no python3 with PyYAML (apt-get install python3-yaml)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
chart_out=$("$PY" "$ROOT/helm/test/check_chart.py" "$HELM") || status=1
crd_out=$("$PY" "$ROOT/crds/test/test_crds.py") || status=1
printf '%s\n' "$chart_out" | sed '$d'
printf '%s\n' "$crd_out" | sed '$d'

# Sum the two "N passed, M failed" lines into one; a missing line is a failure.
read -r p f < <(printf '%s\n%s\n' "$chart_out" "$crd_out" | awk '
  / passed, [0-9]+ failed$/ { p += $1; f += $3; n++ }
  END { if (n != 2) f++; print p + 0, f + 0 }')
echo "chart: $(printf '%s\n' "$chart_out" | tail -1); crds: $(printf '%s\n' "$crd_out" | tail -1)"
echo "$p passed, $f failed"
[ "$status" -eq 0 ] && [ "$f" -eq 0 ]
