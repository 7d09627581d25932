#!/usr/bin/env bash
# Issue 3: the manifests rendered by the usp chart pass
# `kubectl apply --dry-run=server` against the Kubernetes API-server double.
#
# Starts the double (HTTPS), applies crds/, creates the namespaces the chart
# renders into, then pipes `helm template` (default values, and the all-on
# values of the chart test: helm/test/values-all.yaml) into
# `kubectl apply --dry-run=server -f -`. Asserts that nothing was persisted and
# that broken manifests are rejected by the server-side dry run.
# Installs helm with scripts/install-helm.sh when missing (HELM=... overrides).
# Output ends with "N passed, M failed"; exits non-zero on any failure.
# USP_E2E_KEEP=1 keeps the work directory.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHART="$ROOT/helm/usp"
VALUES_ALL="$ROOT/helm/test/values-all.yaml"
RELEASE=usp
NAMESPACE=usp-system

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/usp-helm-dry-run.XXXXXX")
export KUBECONFIG="$WORK/kubeconfig"
DOUBLE_PID=""

cleanup() {
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

k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

# --- tools -----------------------------------------------------------------------
if ! command -v kubectl >/dev/null 2>&1; then
  fail "kubectl is on PATH"; finish
fi
HELM=${HELM:-}
if [ -z "$HELM" ]; then
  HELM=$("$ROOT/scripts/install-helm.sh" --quiet) || HELM=""
fi
if [ -z "$HELM" ] || ! "$HELM" version --short >/dev/null 2>&1; then
  fail "helm is installed (scripts/install-helm.sh)"; finish
fi
echo "# helm $("$HELM" version --short), kubectl $(kubectl version --client 2>/dev/null | head -1)"

# --- the API-server double ---------------------------------------------------------
python3 "$ROOT/e2e/apiserver/apiserver.py" --port 0 --port-file "$WORK/double.port" \
  --kubeconfig-out "$KUBECONFIG" >"$WORK/double.log" 2>&1 &
DOUBLE_PID=$!
for _ in $(seq 1 300); do
  [ -s "$WORK/double.port" ] && break
  kill -0 "$DOUBLE_PID" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$WORK/double.port" ]; then
  fail "the API-server double starts"; finish
fi
ok "the API-server double listens on port $(cat "$WORK/double.port") (HTTPS)"

run "kubectl apply -f crds/" k apply -f "$ROOT/crds/"
served=0
for _ in $(seq 1 50); do
  k get usersignals >/dev/null 2>&1 && { served=1; break; }
  sleep 0.2
done
if [ "$served" = 1 ]; then ok "the UserSignal kind is served"; else fail "the UserSignal kind is served"; fi

# --- render ----------------------------------------------------------------------
render() {  # render OUT [helm args...]
  local out=$1; shift
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "$@" >"$out" 2>"$out.err"
}
run "helm template (default values)" render "$WORK/default.yaml"
run "helm template (all-on values: values-all.yaml)" render "$WORK/all.yaml" -f "$VALUES_ALL"

# The namespaces the rendered chart needs (helm template does not create them).
namespaces=$(cat "$WORK/default.yaml" "$WORK/all.yaml" 2>/dev/null |
  sed -n 's/^  namespace: *"\{0,1\}\([a-z0-9-]*\)"\{0,1\} *$/\1/p' | sort -u)
echo "# namespaces: $(echo $namespaces)"
# (`kubectl create namespace` sends protobuf, which the double does not read: apply JSON.)
for ns in $NAMESPACE $namespaces; do
  printf '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "%s"}}\n' "$ns"
done | k apply -f - >"$WORK/ns.out" 2>&1 || sed 's/^/    /' "$WORK/ns.out"
missing=""
for ns in $NAMESPACE team-a team-b; do k get namespace "$ns" >/dev/null 2>&1 || missing="$missing $ns"; done
if [ -z "$missing" ]; then ok "namespaces $NAMESPACE team-a team-b exist"; else fail "namespaces missing:$missing"; fi

# --- dry runs ----------------------------------------------------------------------
# dry_run NAME FILE: kubectl apply --dry-run=server accepts every object in FILE.
dry_run() {
  local name=$1 file=$2 count out rc
  count=$(grep -c '^kind:' "$file")
  out=$(k apply --dry-run=server -f - <"$file" 2>&1); rc=$?
  if [ "$rc" -eq 0 ]; then
    ok "$name: kubectl apply --dry-run=server accepts all $count objects"
  else
    fail "$name: kubectl apply --dry-run=server exit $rc"; printf '%s\n' "$out" | sed 's/^/    /'
  fi
  # Every object is reported as dry-run, one line per rendered object.
  local lines
  lines=$(printf '%s\n' "$out" | grep -c '(server dry run)$')
  if [ "$lines" -eq "$count" ]; then
    ok "$name: $lines objects reported \"(server dry run)\""
  else
    fail "$name: $lines of $count objects reported \"(server dry run)\""
    printf '%s\n' "$out" | sed 's/^/    /'
  fi
}
dry_run "default values" "$WORK/default.yaml"
dry_run "all-on values" "$WORK/all.yaml"

# The all-on render covers every kind the chart has (sanity: the test is not vacuous).
kinds=$(sed -n 's/^kind: *//p' "$WORK/all.yaml" | sort -u | tr '\n' ' ')
want="ClusterRole ClusterRoleBinding ConfigMap Deployment NetworkPolicy PodDisruptionBudget PodMonitor PrometheusRule Role RoleBinding Service ServiceAccount ServiceMonitor StatefulSet"
missing=""
for kd in $want; do case " $kinds" in *" $kd "*) ;; *) missing="$missing $kd" ;; esac; done
if [ -z "$missing" ]; then ok "all-on render has every kind: $kinds"; else fail "all-on render lacks:$missing"; fi

# --- nothing persisted -----------------------------------------------------------
nothing_left() {  # nothing_left RESOURCE: no objects of RESOURCE (besides kube defaults)
  local left
  left=$(k get "$1" -A -o name 2>&1) || { echo "$left"; return 1; }
  left=$(printf '%s\n' "$left" | grep -v -e '^$' -e '/default$' -e '/system:' || true)
  [ -z "$left" ] || { echo "left: $left"; return 1; }
}
for r in deployments statefulsets services configmaps serviceaccounts roles rolebindings \
         clusterroles clusterrolebindings poddisruptionbudgets networkpolicies \
         servicemonitors podmonitors prometheusrules; do
  run "nothing persisted: kubectl get $r -A is empty" nothing_left "$r"
done

# --- negative: the server-side dry run rejects broken manifests ------------------------
# rejects NAME MESSAGE-REGEX: stdin is refused by --dry-run=server with MESSAGE.
rejects() {
  local name=$1 pattern=$2 out rc
  out=$(k apply --dry-run=server -f - 2>&1); rc=$?
  if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -Eq "$pattern"; then
    ok "rejected by --dry-run=server: $name"
  else
    fail "rejected by --dry-run=server: $name (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    /'
  fi
}
rejects "UserSignal with an invalid onError enum" 'spec.onError.*(Unsupported value|supported values)' <<'EOF'
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: broken-enum, namespace: team-a}
spec:
  eventSources: [{kafkaTopic: events.booking}]
  attributes: {listing_id: /listing_id}
  onError: explode
EOF
rejects "UserSignal with an unknown field under spec" 'unknown field "spec.bogusField"' <<'EOF'
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: broken-field, namespace: team-a}
spec:
  eventSources: [{kafkaTopic: events.booking}]
  attributes: {listing_id: /listing_id}
  bogusField: 1
EOF
rejects "Deployment whose selector does not match its template labels" \
  'spec.template.metadata.labels.*selector. does not match' <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken-selector, namespace: usp-system}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: busybox}]}
EOF
rejects "a ConfigMap in a namespace that does not exist" 'not ?found' <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: orphan, namespace: no-such-namespace}
data: {a: b}
EOF
# A rendered manifest set with one broken object fails as a whole (exit non-zero).
{ cat "$WORK/all.yaml"; printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: usp-system}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: []}\n'; } \
  >"$WORK/all-broken.yaml"
rejects "the all-on render plus a Deployment without containers" 'spec.template.spec.containers' \
  <"$WORK/all-broken.yaml"
run "nothing persisted after the rejected dry runs" nothing_left deployments
run "no UserSignals persisted" nothing_left usersignals

finish
