#!/usr/bin/env bash
# Issue 6: `uspctl generate` on the examples, checked by the real consumers:
#   --help and errors that name the file, field or flag;
#   every normalized resource validates and round-trips (generating it again
#   gives the same file);
#   `kubectl apply --dry-run=server -f DIR` of the generated manifests
#   (UserSignal/UserSegment/SessionJob, ConfigMap + Deployment, backfill Job
#   + CronJob, PrometheusRule) against the Kubernetes API-server double, with
#   the USP CRDs installed (strict field validation: a normalized field the
#   CRD lacks fails), and the same through `--stdout | kubectl apply -f -`;
#   nothing persisted; a broken Job is rejected (the dry run is not vacuous);
#   the dashboards are JSON with schemaVersion >= 36;
#   usp-operator --create-prometheus-rules on the double creates the same
#   PrometheusRule for an applied UserSignal, owned by it and deleted with it.
# The alert rules themselves: core/monitoring/promtool_test.sh.
# Output ends with "N passed, M failed"; exits non-zero on any failure.
# usage: e2e/generate_e2e.sh BUILD_DIR       USP_E2E_KEEP=1 keeps the work dir.
set -uo pipefail
BUILD=$(cd "${1:?usage: generate_e2e.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USPCTL="$BUILD/cli/uspctl"
NS=usp-apps

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/usp-generate-e2e.XXXXXX")
export KUBECONFIG="$WORK/kubeconfig"
DOUBLE_PID=""
OP_PID=""
cleanup() {
  if [ -n "$OP_PID" ] && kill -0 "$OP_PID" 2>/dev/null; then kill -TERM "$OP_PID"; wait "$OP_PID" 2>/dev/null; fi
  if [ -n "$DOUBLE_PID" ] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
    kill -TERM "$DOUBLE_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$DOUBLE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DOUBLE_PID" 2>/dev/null
    wait "$DOUBLE_PID" 2>/dev/null
  fi
  if [ -n "${USP_E2E_KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
finish() {
  if [ "$FAILED" -ne 0 ] && [ -s "$WORK/double.log" ]; then
    echo "--- apiserver double (last lines)"; tail -25 "$WORK/double.log"
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
# run WHAT CMD...: passes when CMD exits 0; shows its output otherwise.
run() {
  local what=$1; shift
  if "$@" >"$WORK/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    /' "$WORK/out"; fi
}
# rejects WHAT REGEX CMD...: CMD exits 1 and its stderr matches REGEX.
rejects() {
  local what=$1 re=$2 rc; shift 2
  "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?
  if [ "$rc" -eq 1 ] && grep -Eq -- "$re" "$WORK/err"; then ok "$what"; else
    fail "$what (exit $rc)"; sed 's/^/    /' "$WORK/err"; fi
}
k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

[ -x "$USPCTL" ] || { fail "$USPCTL is built"; finish; }
command -v kubectl >/dev/null 2>&1 || { fail "kubectl is on PATH"; finish; }

# --- the command line ------------------------------------------------------------------
"$USPCTL" generate --help >"$WORK/help" 2>&1
missing=""
for flag in --out-dir --namespace --image --brokers --cronjob --backfill-from --backfill-to --stdout \
            --latency-seconds --min-success-ratio --written-drop-ratio; do
  grep -q -- "$flag" "$WORK/help" || missing="$missing $flag"
done
if [ -z "$missing" ]; then ok "uspctl generate --help lists every flag"; else fail "--help lacks:$missing"; fi

rejects "a missing file is named" "no-such\.yaml" "$USPCTL" generate "$WORK/no-such.yaml" --out-dir "$WORK/x"
cat >"$WORK/bad.yaml" <<'Y'
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: broken}
spec:
  eventSources: [{kafkaTopic: events.search}]
  onError: explode
Y
rejects "an invalid resource is named by file and field" "bad\.yaml#0: spec\.onError" \
  "$USPCTL" generate "$WORK/bad.yaml" --out-dir "$WORK/x"
rejects "a bad --backfill-from is named" "^uspctl generate: --backfill-from: \"last week\"" \
  "$USPCTL" generate "$ROOT/examples/searches.yaml" --backfill-from "last week" --out-dir "$WORK/x"
rejects "a bad --latency-quantile is named" "--latency-quantile: must be in \(0, 1\)" \
  "$USPCTL" generate "$ROOT/examples/searches.yaml" --latency-quantile 1.5 --out-dir "$WORK/x"
if [ ! -e "$WORK/x" ]; then ok "nothing is written on errors"; else fail "nothing is written on errors"; fi

# --- generate --------------------------------------------------------------------------
GEN="$WORK/gen"
run "uspctl generate examples/ (namespace $NS, CronJob, backfill window)" \
  "$USPCTL" generate "$ROOT/examples" --out-dir "$GEN" --namespace "$NS" --image usp:e2e \
  --brokers kafka.$NS:9092 --cronjob "0 3 * * *" --backfill-from 2026-11-01T00:00:00Z --backfill-to now
cp "$WORK/out" "$WORK/written"
nres=$(ls "$GEN"/*.resource.yaml 2>/dev/null | wc -l)
nlisted=$(grep -c . "$WORK/written")
if [ "$nres" -ge 5 ] && [ "$nlisted" -eq $((nres * 5)) ]; then
  ok "5 files per resource written and listed ($nres resources, $nlisted files)"
else
  fail "5 files per resource: $nres resources, $nlisted files listed"; sed 's/^/    /' "$WORK/written"
fi
bad=0
while read -r f; do [ -s "$f" ] || { echo "    missing $f"; bad=1; }; done <"$WORK/written"
[ "$bad" = 0 ] && ok "every listed file exists" || fail "every listed file exists"

# Normalized resources: valid, and generating them again gives the same file.
run "uspctl validate accepts every normalized resource" "$USPCTL" validate "$GEN"/*.resource.yaml
same=0; differ=""
for f in "$GEN"/*.resource.yaml; do
  name=$(basename "$f" .resource.yaml)
  "$USPCTL" generate "$f" --out-dir "$WORK/again/$name" >/dev/null 2>&1
  if cmp -s "$f" "$WORK/again/$name/$name.resource.yaml"; then same=$((same + 1)); else differ="$differ $name"; fi
done
if [ -z "$differ" ]; then ok "all $same normalized resources round-trip byte for byte"; else
  fail "normalized resources differ after a second generate:$differ"; fi

# --values: the chart's values give the workers what the operator would give them.
run "uspctl generate --values helm/usp/values.yaml" \
  "$USPCTL" generate "$ROOT/examples/searches.yaml" --values "$ROOT/helm/usp/values.yaml" --out-dir "$WORK/vals"
if python3 - "$WORK/vals/searches.worker.yaml" "$ROOT/helm/usp/values.yaml" <<'PY'
import sys, yaml
dep = list(yaml.safe_load_all(open(sys.argv[1])))[1]
values = yaml.safe_load(open(sys.argv[2]))
c = dep["spec"]["template"]["spec"]["containers"][0]
assert c["resources"] == values["workers"]["resources"], c["resources"]
assert "--bootstrap=" + values["kafka"]["bootstrap"] in c["args"], c["args"]
assert c["ports"][0]["containerPort"] == values["workers"]["httpPort"], c["ports"]
PY
then ok "the worker Deployment has the chart's worker resources, port and Kafka bootstrap"
else fail "the worker Deployment has the chart's worker resources, port and Kafka bootstrap"; fi
printf 'workers: {httpPort: eighty}\n' >"$WORK/bad-values.yaml"
rejects "a bad values file is named with its field" "workers\.httpPort: must be an integer" \
  "$USPCTL" generate "$ROOT/examples/searches.yaml" --values "$WORK/bad-values.yaml" --out-dir "$WORK/x"

# Dashboards.
dash_ok=1
for f in "$GEN"/dashboards/*.dashboard.json; do
  jq -e '.schemaVersion >= 36 and (.templating.list | map(.name) | index("datasource") != null)
         and (.panels | length) >= 8' "$f" >/dev/null || { echo "    $f"; dash_ok=0; }
done
[ "$dash_ok" = 1 ] && ok "dashboards: schemaVersion >= 36, datasource variable, >= 8 panels" ||
  fail "dashboards are well formed"

# --- the API-server double -------------------------------------------------------------
python3 "$ROOT/e2e/apiserver/apiserver.py" --port 0 --port-file "$WORK/double.port" \
  --kubeconfig-out "$KUBECONFIG" >"$WORK/double.log" 2>&1 &
DOUBLE_PID=$!
for _ in $(seq 1 300); do
  [ -s "$WORK/double.port" ] && break
  kill -0 "$DOUBLE_PID" 2>/dev/null || break
  sleep 0.1
done
[ -s "$WORK/double.port" ] || { fail "the API-server double starts"; finish; }
ok "the API-server double listens on port $(cat "$WORK/double.port")"
run "kubectl apply -f crds/" k apply -f "$ROOT/crds/"
served=0
for _ in $(seq 1 50); do
  k get usersignals >/dev/null 2>&1 && k get sessionjobs >/dev/null 2>&1 && { served=1; break; }
  sleep 0.2
done
[ "$served" = 1 ] && ok "the USP kinds are served" || fail "the USP kinds are served"
printf '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "%s"}}\n' "$NS" | k apply -f - >/dev/null 2>&1
run "namespace $NS exists" k get namespace "$NS"
for r in jobs.batch cronjobs.batch prometheusrules.monitoring.coreos.com; do
  run "the double serves $r" k get "$r" -n "$NS"
done

# dry_run WHAT COUNT CMD...: every one of COUNT objects is accepted by the server dry run.
dry_run() {
  local what=$1 count=$2 lines; shift 2
  if "$@" >"$WORK/out" 2>&1; then
    lines=$(grep -c '(server dry run)$' "$WORK/out")
    if [ "$lines" -eq "$count" ]; then ok "$what: all $count objects accepted"; else
      fail "$what: $lines of $count objects reported (server dry run)"; sed 's/^/    /' "$WORK/out"; fi
  else
    fail "$what"; sed 's/^/    /' "$WORK/out"
  fi
}
count=$(cat "$GEN"/*.yaml | grep -c '^kind:')
kinds=$(cat "$GEN"/*.yaml | sed -n 's/^kind: *//p' | sort -u | tr '\n' ' ')
want="ConfigMap CronJob Deployment Job PrometheusRule SessionJob UserSegment UserSignal"
missing=""
for kd in $want; do case " $kinds" in *" $kd "*) ;; *) missing="$missing $kd" ;; esac; done
[ -z "$missing" ] && ok "the manifests hold every kind: $kinds" || fail "the manifests lack:$missing"
dry_run "kubectl apply --dry-run=server -f DIR" "$count" k apply --dry-run=server -f "$GEN"

"$USPCTL" generate "$ROOT/examples" --stdout --namespace "$NS" --cronjob @daily >"$WORK/stream.yaml" 2>"$WORK/stream.err"
scount=$(grep -c '^kind:' "$WORK/stream.yaml")
[ "$scount" -eq "$count" ] && ok "--stdout prints the same $scount manifests" ||
  fail "--stdout prints $scount manifests, the files hold $count"
dry_run "uspctl generate --stdout | kubectl apply --dry-run=server -f -" "$scount" \
  k apply --dry-run=server -f "$WORK/stream.yaml"

nothing_left() {
  local left
  left=$(k get "$1" -n "$NS" -o name 2>&1) || { echo "$left"; return 1; }
  [ -z "$(printf '%s' "$left" | grep -v '^$')" ] || { echo "left: $left"; return 1; }
}
for r in usersignals usersegments sessionjobs configmaps deployments jobs.batch cronjobs.batch \
         prometheusrules.monitoring.coreos.com; do
  run "nothing persisted: no $r in $NS" nothing_left "$r"
done

# Not vacuous: the server rejects a Job the way it would reject a broken generated one.
sed 's/restartPolicy: Never/restartPolicy: Always/' "$GEN/searches.backfill-job.yaml" >"$WORK/broken-job.yaml"
if k apply --dry-run=server -f "$WORK/broken-job.yaml" >"$WORK/out" 2>&1; then
  fail "a Job with restartPolicy Always is rejected"; sed 's/^/    /' "$WORK/out"
elif grep -q "restartPolicy" "$WORK/out"; then
  ok "a Job with restartPolicy Always is rejected (restartPolicy named)"
else
  fail "a Job with restartPolicy Always is rejected for its restartPolicy"; sed 's/^/    /' "$WORK/out"
fi
sed 's/^  parallelism: 1$/  parallelism: 1\n  bogusField: 1/' "$GEN/searches.resource.yaml" >"$WORK/unknown.yaml"
if grep -q bogusField "$WORK/unknown.yaml" && ! k apply --dry-run=server -f "$WORK/unknown.yaml" >"$WORK/out" 2>&1 &&
   grep -q bogusField "$WORK/out"; then
  ok "strict field validation is on (an unknown resource field is rejected)"
else
  fail "strict field validation is on"; sed 's/^/    /' "$WORK/out"
fi


# --- usp-operator --create-prometheus-rules on the double --------------------------------
# The operator's PrometheusRule of a job is the one `uspctl generate` writes,
# owned by the resource and deleted with it.
OPERATOR="$BUILD/operator/usp-operator"
if [ ! -x "$OPERATOR" ]; then
  fail "$OPERATOR is built"; finish
fi
run "kubectl apply the normalized searches UserSignal (for real)" k apply -f "$GEN/searches.resource.yaml"
"$OPERATOR" --kubeconfig "$KUBECONFIG" --namespace "$NS" --http-address 127.0.0.1 --http-port 0 \
  --port-file "$WORK/op.port" --kafka-bootstrap 127.0.0.1:9 --query-catalog-configmap "" \
  --no-unsupported-status --create-prometheus-rules >"$WORK/op.log" 2>&1 &
OP_PID=$!
rule_json() { k get prometheusrules.monitoring.coreos.com usp-usersignal-searches -n "$NS" -o json 2>/dev/null; }
got=""
for _ in $(seq 1 100); do got=$(rule_json) && break; sleep 0.2; done
if [ -n "$got" ]; then
  ok "the operator created PrometheusRule usp-usersignal-searches"
  uid=$(k get usersignal searches -n "$NS" -o jsonpath='{.metadata.uid}')
  owner=$(printf '%s' "$got" | jq -r '.metadata.ownerReferences[0] | "\(.kind)/\(.name)/\(.uid)/\(.controller)"')
  [ "$owner" = "UserSignal/searches/$uid/true" ] && ok "it is controlled by the UserSignal ($owner)" ||
    fail "it is controlled by the UserSignal: got $owner, uid $uid"
  python3 -c 'import sys,yaml,json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))["spec"], sort_keys=True))' \
    "$GEN/searches.prometheusrule.yaml" >"$WORK/want.json"
  printf '%s' "$got" | jq -S -c .spec >"$WORK/got.json"
  if [ "$(jq -S -c . "$WORK/want.json")" = "$(cat "$WORK/got.json")" ]; then
    ok "its spec is the one uspctl generate writes"
  else
    fail "its spec is the one uspctl generate writes"; diff <(jq -S . "$WORK/want.json") <(jq -S . "$WORK/got.json") | head -20
  fi
  k delete usersignal searches -n "$NS" --wait=false >/dev/null 2>&1
  gone=0
  for _ in $(seq 1 100); do rule_json >/dev/null || { gone=1; break; }; sleep 0.2; done
  [ "$gone" = 1 ] && ok "deleting the UserSignal deletes its PrometheusRule (ownerReference)" ||
    fail "deleting the UserSignal deletes its PrometheusRule"
else
  fail "the operator created PrometheusRule usp-usersignal-searches"; tail -20 "$WORK/op.log" | sed 's/^/    /'
fi
kill -TERM "$OP_PID" 2>/dev/null; wait "$OP_PID" 2>/dev/null; OP_PID=""

finish
