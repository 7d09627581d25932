#!/usr/bin/env bash
# promtool checks the alert rules `uspctl generate` writes, and proves with
# testdata/alerts_test.yaml (input series + alert_rule_test) that each of the
# three alerts fires on the condition it names and stays quiet otherwise:
#   1. `promtool check rules` on the spec of every example's PrometheusRule
#   2. `promtool test rules` of the fixtures against examples/searches.yaml's
#   3. a control: the same fixtures against rules generated with other
#      thresholds must FAIL (the fixtures do test the thresholds)
# promtool: $PROMTOOL or PATH (Debian's `prometheus` package). Without it the
# test fails when CI=true and is skipped (exit 77) otherwise.
# usage: promtool_test.sh BUILD_DIR
set -uo pipefail
BUILD=$(cd "${1:?usage: promtool_test.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
USPCTL="$BUILD/cli/uspctl"
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ] || [ ! -x "$PROMTOOL" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "not ok - promtool is not installed (required when CI=true; scripts/install-deps.sh installs Debian's prometheus)"
    exit 1
  fi
  echo "# SKIP promtool is not installed (apt-get install prometheus)"
  exit 77
fi
if [ ! -x "$USPCTL" ]; then echo "not ok - $USPCTL is not built"; exit 1; fi
echo "# $("$PROMTOOL" --version 2>&1 | head -1)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/usp-promtool.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# rules_of PROMETHEUSRULE.yaml OUT.yaml: the rule file promtool reads (spec).
rules_of() {
  python3 - "$1" "$2" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    rule = yaml.safe_load(f)
assert rule["kind"] == "PrometheusRule", rule["kind"]
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(rule["spec"], f, sort_keys=False)
PY
}

# 1. Every example's rules are valid.
if "$USPCTL" generate "$ROOT/examples" --out-dir "$WORK/all" >"$WORK/gen.out" 2>&1; then
  n=0
  for f in "$WORK"/all/*.prometheusrule.yaml; do
    rules_of "$f" "$WORK/check.yaml" || { fail "extract spec of $(basename "$f")"; continue; }
    if "$PROMTOOL" check rules "$WORK/check.yaml" >"$WORK/check.out" 2>&1; then
      n=$((n + 1))
    else
      fail "promtool check rules $(basename "$f")"; sed 's/^/    /' "$WORK/check.out"
    fi
  done
  [ "$n" -ge 5 ] && ok "promtool check rules passes on all $n examples' PrometheusRules" ||
    fail "promtool check rules: only $n examples checked"
else
  fail "uspctl generate examples"; sed 's/^/    /' "$WORK/gen.out"
fi

# 2. The fixtures against the default rules of examples/searches.yaml.
mkdir -p "$WORK/t"
cp "$ROOT/core/monitoring/testdata/alerts_test.yaml" "$WORK/t/"
"$USPCTL" generate "$ROOT/examples/searches.yaml" --out-dir "$WORK/gen" >/dev/null 2>&1
rules_of "$WORK/gen/searches.prometheusrule.yaml" "$WORK/t/rules.yaml"
if (cd "$WORK/t" && "$PROMTOOL" test rules alerts_test.yaml) >"$WORK/test.out" 2>&1; then
  ok "promtool test rules: each alert fires on its condition and stays quiet otherwise ($(grep -c '^  - name:' "$WORK/t/alerts_test.yaml") cases)"
else
  fail "promtool test rules alerts_test.yaml"; sed 's/^/    /' "$WORK/test.out"
fi

# 3. Control: other thresholds must break the fixtures, one alert at a time.
control() {  # control ALERT WHAT FLAGS...: the fixtures fail, on ALERT
  local alert=$1 what=$2; shift 2
  "$USPCTL" generate "$ROOT/examples/searches.yaml" --out-dir "$WORK/ctl" "$@" >/dev/null 2>&1
  rules_of "$WORK/ctl/searches.prometheusrule.yaml" "$WORK/t/rules.yaml"
  if (cd "$WORK/t" && "$PROMTOOL" test rules alerts_test.yaml) >"$WORK/ctl.out" 2>&1; then
    fail "control: the fixtures notice $what"
  elif grep -q "alertname: $alert" "$WORK/ctl.out"; then
    ok "control: the fixtures notice $what"
  else
    fail "control: the fixtures notice $what (failed, but not on $alert)"; sed 's/^/    /' "$WORK/ctl.out"
  fi
}
control UspEventsWrittenAnomaly "a drop ratio of 0.05 (the 10/s -> 1/s drop no longer fires)" --written-drop-ratio 0.05
control UspEventsWrittenAnomaly "a drop ratio of 0.7 (the 0.6 case fires)" --written-drop-ratio 0.7
control UspOverallLatencyHigh "a latency threshold of 100s (p99 90s no longer fires)" --latency-seconds 100
control UspOverallLatencyHigh "a latency threshold of 50s (the 57s case fires)" --latency-seconds 50
control UspSuccessRateLow "a success ratio of 0.95 (2% failures no longer fire)" --min-success-ratio 0.95
control UspSuccessRateLow "a success ratio of 0.999 (the 0.5% case fires)" --min-success-ratio 0.999

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
