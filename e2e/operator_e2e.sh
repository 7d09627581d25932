#!/usr/bin/env bash
# End-to-end test of usp-operator against the Kubernetes API-server double
# (e2e/apiserver, HTTPS + bearer token, with its Deployment controller and
# local-process kubelet), driven by the real kubectl:
#   CRDs and examples applied with kubectl -> ConfigMaps, Deployments with the
#   right replicas and ownerReferences -> worker pods Ready -> Ready condition
#   and `kubectl get usersignals` columns; an invalid resource -> InvalidSpec
#   with the field path; a spec change rolls the Deployment; injected 410 Gone,
#   dropped watches and a 409 on status are survived without missing an
#   update; `kubectl delete` cascades and cleans the query catalog; two
#   operator instances never reconcile at once, and the second takes over
#   when the leader dies. The examples' UserSegment (active-trip-planner) and
#   SessionJob (search-engagement) run the same way: Deployments usp-segment-*
#   / usp-session-* with --state-dir, Ready, status.assignment (real workers);
#   kill -9 of the segment's active worker moves its partitions to the warm
#   standby (status.lastFailover); a SessionJob naming a missing UserSignal,
#   and the segment once its exit
#   signal `bookings` is deleted, get Ready=False SignalNotFound naming the
#   field.
#
# Workers: real `usp-runtime worker`s. By default the script starts the
# embedded Kafka-protocol broker (`uspctl broker`) with the examples' source,
# output and dead-letter topics; USP_E2E_KAFKA_BOOTSTRAP=HOST:PORT uses an
# existing cluster instead (the topics must exist there). With real workers a
# worker pod is checked Ready on its own /readyz, the operator's failover
# controller must give the active all 8 partitions (status.assignment, the
# worker's /status) across the rollout and the leader change (the new leader
# adopts the epoch), and one event produced with kcat to events.search must
# come out on usp.signal.searches. Failover itself: operator_failover_e2e.py.
# Only when real workers cannot run (usp-runtime or uspctl not built, the
# broker does not start, or USP_E2E_STAND_IN=1) does a stand-in worker (a few
# lines of Python serving /healthz and /readyz) run, with a SKIP note.
#
# usage: e2e/operator_e2e.sh BUILD_DIR
set -uo pipefail

BUILD=$(cd "${1:?usage: operator_e2e.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPERATOR="$BUILD/operator/usp-operator"
# Not under /tmp: the double rewrites command paths that start with a
# volume's mountPath, and worker pods mount an emptyDir at /tmp.
WORK=$(mktemp -d "${USP_E2E_WORKDIR:-$BUILD}/operator-e2e.XXXXXX")
export KUBECONFIG="$WORK/kubeconfig"
PASSED=0
FAILED=0
DOUBLE_PID=""
BROKER_PID=""
declare -A OP_PID=()

ok()   { echo "ok - $*"; PASSED=$((PASSED + 1)); }
fail() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null; then ok "$what"; else fail "$what"; fi; }
# eventually TIMEOUT_S CMD...: polls CMD until it succeeds.
eventually() {
  local deadline=$(( $(date +%s) + $1 )); shift
  while true; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.3
  done
}
check_eventually() { local what=$1 t=$2; shift 2; if eventually "$t" "$@"; then ok "$what"; else fail "$what"; fi; }

stop_pid() {  # stop_pid PID SIGNAL
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "-$2" "$1" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
  fi
}

cleanup() {
  for id in "${!OP_PID[@]}"; do stop_pid "${OP_PID[$id]}" TERM; done
  stop_pid "$DOUBLE_PID" TERM   # kills the worker pods too
  stop_pid "$BROKER_PID" TERM
  if [ "$FAILED" -ne 0 ] || [ -n "${USP_E2E_KEEP:-}" ]; then
    for f in "$WORK"/op-*.log; do echo "--- $f"; tail -25 "$f"; done
    echo "--- apiserver double"; tail -25 "$WORK/double.log"
    if [ -f "$WORK/broker.log" ]; then echo "--- uspctl broker"; tail -25 "$WORK/broker.log"; fi
    for f in "$WORK"/pods/*/*.log "$WORK"/pods/*/*/*.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }
    done 2>/dev/null
  fi
  if [ -n "${USP_E2E_KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ ! -x "$OPERATOR" ]; then
  echo "not ok - $OPERATOR is not built"; echo "0 passed, 1 failed"; exit 1
fi

# --- workers ------------------------------------------------------------------
RUNTIME="$BUILD/runtime/usp-runtime"
USPCTL="$BUILD/cli/uspctl"
# Every topic the examples use: sources, signal outputs, dead letters, the
# segment's and session job's outputs and changelogs.
TOPICS="events.search events.listing_view events.booking
        usp.signal.searches usp.signal.home-views usp.signal.bookings
        usp.dlq.searches usp.dlq.home-views usp.dlq.bookings
        usp.segment.active-trip-planner usp.session.search-engagement
        usp.changelog.usersegment.active-trip-planner usp.changelog.sessionjob.search-engagement"
REAL_WORKERS=""
BOOTSTRAP=""
SKIP_REASON=""
if [ -n "${USP_E2E_STAND_IN:-}" ]; then
  SKIP_REASON="USP_E2E_STAND_IN is set"
elif [ ! -x "$RUNTIME" ]; then
  SKIP_REASON="$RUNTIME is not built"
elif [ -n "${USP_E2E_KAFKA_BOOTSTRAP:-}" ]; then
  BOOTSTRAP="$USP_E2E_KAFKA_BOOTSTRAP"
elif [ ! -x "$USPCTL" ]; then
  SKIP_REASON="$USPCTL is not built (needed for the embedded broker)"
else
  topic_args=()
  for t in $TOPICS; do topic_args+=(--topic "$t"); done
  "$USPCTL" broker "${topic_args[@]}" --partitions 8 --bootstrap-file "$WORK/bootstrap" \
    >"$WORK/broker.log" 2>&1 &
  BROKER_PID=$!
  if eventually 20 test -s "$WORK/bootstrap"; then
    BOOTSTRAP=$(cat "$WORK/bootstrap")
  else
    SKIP_REASON="uspctl broker did not start: $(tail -3 "$WORK/broker.log" | tr '\n' ' ')"
    stop_pid "$BROKER_PID" TERM; BROKER_PID=""
  fi
fi
if [ -z "$SKIP_REASON" ]; then
  REAL_WORKERS=1
  WORKER_CMD="$RUNTIME"
  echo "# real workers: $WORKER_CMD, Kafka at $BOOTSTRAP${BROKER_PID:+ (uspctl broker, pid $BROKER_PID)}"
else
  echo "# SKIP real workers ($SKIP_REASON): worker pods run a Python STAND-IN instead;"
  echo "#   the real-worker checks (worker /readyz, an event through to usp.signal.searches) are skipped"
  WORKER_CMD="$WORK/stand-in-worker"
  BOOTSTRAP="127.0.0.1:9"
  cat >"$WORKER_CMD" <<'EOF'
#!/usr/bin/env python3
# Stand-in for `usp-runtime worker`: checks its arguments and the mounted
# job config like the real worker, then serves the health endpoints.
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
assert sys.argv[1] == "worker", sys.argv
args = dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("--") and "=" in a)
with open(args["config"]) as f:
    job = json.load(f)
assert job["kind"] in ("UserSignal", "UserSegment", "SessionJob") and args["bootstrap"], job
assert ("state-dir" in args) == (job["kind"] != "UserSignal" or job["spec"]["type"] == "left_join"), args
class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"ok"}' if self.path in ("/healthz", "/readyz", "/status") else b"{}"
        self.send_response(200 if body != b"{}" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("stand-in worker for", job["metadata"]["name"], "on", args["address"], flush=True)
ThreadingHTTPServer((args["address"], int(args["http-port"])), Health).serve_forever()
EOF
  chmod +x "$WORKER_CMD"
fi

# --- the API-server double -------------------------------------------------------
python3 "$ROOT/e2e/apiserver/apiserver.py" --port 0 --port-file "$WORK/double.port" \
  --kubeconfig-out "$KUBECONFIG" --run-pods --pod-dir "$WORK/pods" >"$WORK/double.log" 2>&1 &
DOUBLE_PID=$!
if ! eventually 30 test -s "$KUBECONFIG"; then
  fail "the API-server double starts"; echo "$PASSED passed, $FAILED failed"; exit 1
fi
SERVER=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
TOKEN=$(kubectl config view --raw -o jsonpath='{.users[0].user.token}')
faults() { curl -sk -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
             -X POST "$SERVER/_double/faults" -d "$1" >/dev/null; }
ok "the API-server double listens on $SERVER"

check "kubectl apply -f crds/" kubectl apply -f "$ROOT/crds/"
check_eventually "the UserSignal kind is served" 20 kubectl get usersignals

# --- two operator instances ---------------------------------------------------
start_operator() {  # start_operator ID
  "$OPERATOR" --kubeconfig "$KUBECONFIG" --leader-elect --leader-election-identity "op-$1" \
    --lease-duration 4s --renew-deadline 3s --retry-period 1s --resync-period 1m \
    --http-address 127.0.0.1 --http-port 0 --port-file "$WORK/op-$1.port" \
    --kafka-bootstrap "$BOOTSTRAP" --worker-command "$WORKER_CMD" --worker-image usp:e2e \
    --worker-service-account usp-worker --kafka-partitions 8 --log-level info \
    >"$WORK/op-$1.log" 2>&1 &
  OP_PID[$1]=$!
}
op_url() { echo "http://127.0.0.1:$(cat "$WORK/op-$1.port")"; }
metric() {  # metric ID NAME_WITH_LABELS -> value (0 when absent)
  curl -s "$(op_url "$1")/metrics" | awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }'
}
reconciles() { grep -c '"reconciled UserSignal' "$WORK/op-$1.log"; }
lease_holder() { kubectl get lease usp-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }

start_operator a
start_operator b
healthy() { test -s "$WORK/op-a.port" && test -s "$WORK/op-b.port" && \
            curl -sf "$(op_url a)/healthz" && curl -sf "$(op_url b)/healthz"; }
check_eventually "both operators serve /healthz" 20 healthy
check_eventually "one operator acquires the Lease" 20 bash -c "kubectl get lease usp-operator -o jsonpath='{.spec.holderIdentity}' | grep -q op-"
LEADER=$(lease_holder); LEADER=${LEADER#op-}
FOLLOWER=$([ "$LEADER" = a ] && echo b || echo a)
echo "# leader: op-$LEADER, follower: op-$FOLLOWER"
check "the leader reports usp_operator_leader 1, the follower 0" \
  test "$(metric "$LEADER" usp_operator_leader)" = 1 -a "$(metric "$FOLLOWER" usp_operator_leader)" = 0
check_eventually "the follower is Ready too (a hot spare)" 10 curl -sf "$(op_url "$FOLLOWER")/readyz"

# --- examples -> workloads ----------------------------------------------------
check "kubectl apply -f examples/" kubectl apply -f "$ROOT/examples/"
EXAMPLES="bookings home-views searches"
for s in $EXAMPLES; do
  check_eventually "ConfigMap usp-$s holds job.json" 30 \
    bash -c "kubectl get configmap usp-$s -o jsonpath='{.data.job\.json}' | jq -e '.kind == \"UserSignal\"'"
  check_eventually "Deployment usp-$s has parallelism + standbyReplicas = 2 replicas" 30 \
    bash -c "test \"\$(kubectl get deployment usp-$s -o jsonpath='{.spec.replicas}')\" = 2"
  uid=$(kubectl get usersignal "$s" -o jsonpath='{.metadata.uid}')
  for kind in deployment configmap; do
    check "$kind usp-$s is controlled by UserSignal $s (ownerReference)" bash -c \
      "kubectl get $kind usp-$s -o json | jq -e '.metadata.ownerReferences[0] | .kind == \"UserSignal\" and .name == \"$s\" and .uid == \"$uid\" and .controller == true and .blockOwnerDeletion == true'"
  done
  check "UserSignal $s carries the usp.dev/cleanup finalizer" bash -c \
    "kubectl get usersignal $s -o json | jq -e '.metadata.finalizers | index(\"usp.dev/cleanup\")'"
done
check "worker pods run usp-runtime worker with the config mounted and restricted security" bash -c \
  "kubectl get deployment usp-searches -o json | jq -e '.spec.template.spec | (.containers[0].args[0] == \"worker\")
     and (.containers[0].args | index(\"--config=/etc/usp/job.json\"))
     and .securityContext.runAsNonRoot and (.containers[0].securityContext.allowPrivilegeEscalation == false)
     and .automountServiceAccountToken == false and .serviceAccountName == \"usp-worker\"'"
for s in $EXAMPLES; do
  check_eventually "UserSignal $s turns Ready (worker pods ready)" 90 bash -c \
    "test \"\$(kubectl get usersignal $s -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True"
done
if [ -n "$REAL_WORKERS" ]; then
  # A real worker pod: Ready in the pod status, and its own /readyz (on the
  # pod IP, port 8081) answers like usp-runtime (the stand-in says "ok").
  pod_ready() {
    kubectl get pods -l usp.dev/job=searches -o json | jq -r '.items[]
      | select(.metadata.deletionTimestamp == null)
      | select([.status.conditions[]? | select(.type == "Ready")][0].status == "True")
      | .status.podIP' | head -1
  }
  has_ready_pod() { test -n "$(pod_ready)"; }
  check_eventually "a real worker pod of searches is Ready" 60 has_ready_pod
  POD_IP=$(pod_ready)
  echo "#   searches worker pod IP: $POD_IP"
  check "the worker pod's /readyz is usp-runtime's (status ready)" bash -c \
    "curl -sf http://$POD_IP:8081/readyz | jq -e '.status == \"ready\"'"
  # Workers start as standbys (--partitions=none); the operator's failover
  # controller gives the one active all 8 partitions (PUT /assignment) and
  # keeps the other as a warm standby.
  active_pod() {
    kubectl get usersignal searches -o json | jq -r '.status.assignment | select(.epoch > 0)
      | .workers[] | select(.role == "active" and (.partitions | length) == 8) | .name'
  }
  assigned() {
    test -n "$(active_pod)" && kubectl get usersignal searches -o json |
      jq -e '[.status.assignment.workers[] | select(.role == "standby" and .warm)] | length == 1'
  }
  check_eventually "status.assignment of searches: one active owns all 8 partitions, one warm standby" 60 assigned
  ACTIVE_POD=$(active_pod)
  ACTIVE_IP=$(kubectl get pod "$ACTIVE_POD" -o jsonpath='{.status.podIP}' 2>/dev/null)
  EPOCH=$(kubectl get usersignal searches -o jsonpath='{.status.assignment.epoch}')
  echo "#   searches active worker: $ACTIVE_POD ($ACTIVE_IP), epoch $EPOCH"
  check "the active worker's /status reports job searches, ready, 8 partitions of events.search, the epoch" bash -c \
    "curl -sf http://$ACTIVE_IP:8081/status | jq -e '.job == \"searches\" and .ready and ([.assignment[] | select(.topic == \"events.search\")] | length) == 8 and (.partitions | length) == 8 and .role == \"active\" and .epoch >= ${EPOCH:-1}'"
  if command -v kcat >/dev/null; then
    EVENT_ID="e2e-$(date +%s)-$RANDOM"
    NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    EVENT="{\"event_id\":\"$EVENT_ID\",\"user_id\":\"e2e-user\",\"event_time\":\"$NOW\",\"query\":{\"destination\":\"Lisbon\",\"checkin\":\"2030-06-01\",\"checkout\":\"2030-06-05\",\"guests\":2},\"context\":{\"platform\":\"web\"}}"
    check "kcat produces one search event to events.search" bash -c \
      "echo \"\$1\" | kcat -P -b $BOOTSTRAP -t events.search -k e2e-user"  _ "$EVENT"
    check_eventually "the event comes out as a signal on usp.signal.searches (kcat -C -e)" 60 bash -c \
      "kcat -C -b $BOOTSTRAP -t usp.signal.searches -o beginning -e -q | grep -F -q '$EVENT_ID'"
    SIGNAL=$(kcat -C -b "$BOOTSTRAP" -t usp.signal.searches -o beginning -e -q -f '%k %s\n' 2>/dev/null | grep -F "$EVENT_ID" | head -1)
    echo "#   signal: $SIGNAL"
    check "the signal is keyed by user_id and carries the destination" bash -c \
      "echo \"\$1\" | grep -q '^e2e-user ' && echo \"\$1\" | grep -q Lisbon" _ "$SIGNAL"
  else
    echo "# SKIP the event round trip: kcat is not installed"
  fi
fi
check "status.observedGeneration matches metadata.generation" bash -c \
  "kubectl get usersignal searches -o json | jq -e '.status.observedGeneration == .metadata.generation'"
GET_OUT=$(kubectl get usersignals 2>&1)
echo "$GET_OUT" | sed 's/^/#   /'
check "kubectl get usersignals prints TYPE READY ACTIVE STANDBY PARTITIONS LAG AGE" \
  bash -c "echo \"\$1\" | head -1 | grep -Eq '^NAME +TYPE +READY +ACTIVE +STANDBY +PARTITIONS +LAG +AGE'" _ "$GET_OUT"
check "kubectl get usersignals shows searches simple/True/1 active/1 standby/8 partitions" \
  bash -c "echo \"\$1\" | grep -Eq '^searches +simple +True +1 +1 +8 '" _ "$GET_OUT"
check "kubectl describe shows the operator's Events" bash -c \
  "kubectl describe usersignal searches | grep -Eq 'Created +.*Created Deployment usp-searches' && \
   kubectl describe usersignal searches | grep -Eq 'Normal +Ready'"
check "the query catalog lists every valid UserSignal" bash -c \
  "kubectl get configmap usp-query-catalog -o json | jq -e '.data | has(\"default.searches.yaml\") and has(\"default.bookings.yaml\") and has(\"default.home-views.yaml\")'"

# --- a UserSegment and a SessionJob (stateful workers) ------------------------------
# examples/ holds both: they read the output topics of searches, bookings and
# home-views.
for entry in usersegment/active-trip-planner/segment sessionjob/search-engagement/session; do
  IFS=/ read -r kind name prefix <<<"$entry"
  dep="usp-$prefix-$name"
  check_eventually "$kind $name: ConfigMap $dep holds its normalized job.json" 30 bash -c \
    "kubectl get configmap $dep -o jsonpath='{.data.job\.json}' | jq -e '.metadata.name == \"$name\" and (.kind | ascii_downcase) == \"$kind\"'"
  check_eventually "$kind $name: Deployment $dep has 2 replicas, --partitions=none, --state-dir on the state emptyDir, preStop" 30 bash -c \
    "kubectl get deployment $dep -o json | jq -e '.spec.replicas == 2
       and (.spec.template.spec.containers[0].args | index(\"--partitions=none\") and index(\"--state-dir=/var/lib/usp/state\"))
       and ([.spec.template.spec.volumes[] | select(.name == \"state\" and .emptyDir)] | length) == 1
       and .spec.template.spec.containers[0].lifecycle.preStop.exec.command[0] == \"sleep\"
       and .spec.template.metadata.labels[\"usp.dev/job\"] == \"$name\"'"
  uid=$(kubectl get "$kind" "$name" -o jsonpath='{.metadata.uid}')
  check "$kind $name owns $dep (ownerReference)" bash -c \
    "kubectl get deployment $dep -o json | jq -e '.metadata.ownerReferences[0] | .name == \"$name\" and .uid == \"$uid\" and .controller'"
  check_eventually "$kind $name turns Ready (worker pods ready)" 90 bash -c \
    "test \"\$(kubectl get $kind $name -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True"
  check "$kind $name: status has observedGeneration, 8 partitions, 1 active + 1 standby" bash -c \
    "kubectl get $kind $name -o json | jq -e '.status.observedGeneration == .metadata.generation and .status.partitions == 8
       and .status.replicas.active == 1 and .status.replicas.standby == 1'"
  if [ -n "$REAL_WORKERS" ]; then
    check_eventually "$kind $name: status.assignment: one active owns all 8 partitions, one warm standby" 60 bash -c \
      "kubectl get $kind $name -o json | jq -e '.status.assignment | .epoch > 0
         and ([.workers[] | select(.role == \"active\") | .partitions[]] | sort) == [0,1,2,3,4,5,6,7]
         and ([.workers[] | select(.role == \"standby\" and .warm)] | length) == 1'"
  fi
done
GET_OUT=$(kubectl get usersegments 2>&1; kubectl get sessionjobs 2>&1)
echo "$GET_OUT" | sed 's/^/#   /'
check "kubectl get usersegments shows active-trip-planner Ready True, 1 active, 1 standby, 8 partitions" \
  bash -c "echo \"\$1\" | grep -Eq '^active-trip-planner +[^ ]+ +True +1 +1 +8 '" _ "$GET_OUT"
check "kubectl get sessionjobs shows search-engagement sliding, True, 1 active, 1 standby, 8 partitions" \
  bash -c "echo \"\$1\" | grep -Eq '^search-engagement +sliding +True +1 +1 +8 '" _ "$GET_OUT"
if [ -n "$REAL_WORKERS" ]; then
  # Failover of a stateful job: kill -9 the segment's active worker process
  # (the double runs pods as processes: containerID process://PID); its
  # partitions move to the warm standby, which tails the changelog.
  SEG_ACTIVE=$(kubectl get usersegment active-trip-planner -o json | jq -r '.status.assignment.workers[] | select(.role == "active") | .name' | head -1)
  SEG_PID=$(kubectl get pod "$SEG_ACTIVE" -o jsonpath='{.status.containerStatuses[0].containerID}' 2>/dev/null | sed 's|^process://||')
  echo "#   active-trip-planner active worker: $SEG_ACTIVE (pid $SEG_PID)"
  check "kill -9 of the segment's active worker process" kill -KILL "$SEG_PID"
  check_eventually "the UserSegment's status.lastFailover names $SEG_ACTIVE and all 8 partitions" 60 bash -c \
    "kubectl get usersegment active-trip-planner -o json | jq -e '.status.lastFailover | .worker == \"$SEG_ACTIVE\"
       and (.partitions | sort) == [0,1,2,3,4,5,6,7] and (.promoted | length) == 1 and (.promoted[0] != \"$SEG_ACTIVE\")'"
  check_eventually "the promoted standby owns all 8 partitions, status.failovers is 1" 60 bash -c \
    "kubectl get usersegment active-trip-planner -o json | jq -e '.status.failovers == 1 and .status.lastFailover.promoted[0] as \$p
       | ([.status.assignment.workers[] | select(.name == \$p and .role == \"active\") | .partitions[]] | sort) == [0,1,2,3,4,5,6,7]'"
fi
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata:
  name: orphan-sessions
spec:
  signals: [no-such-signal]
  window: {type: session, gap: 30m}
  aggregations:
    - {name: events, fn: count}
EOF
check_eventually "a SessionJob naming a missing UserSignal gets Ready=False reason SignalNotFound" 20 bash -c \
  "test \"\$(kubectl get sessionjob orphan-sessions -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = SignalNotFound"
MSG=$(kubectl get sessionjob orphan-sessions -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')
echo "#   SignalNotFound message: $MSG"
check "the message names the field (spec.signals[0]) and the signal" bash -c \
  "echo \"\$1\" | grep -Fq 'spec.signals[0]: no UserSignal \"no-such-signal\"'" _ "$MSG"
check "no workloads for it" bash -c \
  "! kubectl get deployment usp-session-orphan-sessions 2>/dev/null && ! kubectl get configmap usp-session-orphan-sessions 2>/dev/null"
check "kubectl delete sessionjob orphan-sessions" kubectl delete sessionjob orphan-sessions --wait=false
check_eventually "it is gone once the finalizer ran" 30 bash -c "! kubectl get sessionjob orphan-sessions"

# --- an invalid resource ----------------------------------------------------------
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: bad-filter
spec:
  eventSources:
    - kafkaTopic: events.search
  filter: {field: /query/guests, op: in, value: 5}
EOF
check_eventually "an invalid UserSignal gets Ready=False reason InvalidSpec" 20 bash -c \
  "test \"\$(kubectl get usersignal bad-filter -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = InvalidSpec"
MSG=$(kubectl get usersignal bad-filter -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')
echo "#   InvalidSpec message: $MSG"
check "the InvalidSpec message names the field path (spec.filter...)" bash -c "echo \"\$1\" | grep -q 'spec.filter'" _ "$MSG"
check "no workloads for the invalid UserSignal" bash -c \
  "! kubectl get deployment usp-bad-filter 2>/dev/null && ! kubectl get configmap usp-bad-filter 2>/dev/null"
check "the invalid UserSignal is not in the query catalog" bash -c \
  "kubectl get configmap usp-query-catalog -o json | jq -e '.data | has(\"default.bad-filter.yaml\") | not'"
check "an InvalidSpec Warning event is recorded" bash -c \
  "kubectl get events --field-selector involvedObject.name=bad-filter 2>/dev/null | grep -q InvalidSpec || \
   kubectl describe usersignal bad-filter | grep -q InvalidSpec"

# --- a spec change -------------------------------------------------------------------
HASH_BEFORE=$(kubectl get deployment usp-searches -o jsonpath='{.spec.template.metadata.annotations.usp\.dev/config-hash}')
kubectl patch usersignal searches --type merge -p '{"spec":{"parallelism":2}}' >/dev/null
check_eventually "a spec change updates the Deployment (parallelism 2 + 1 standby = 3 replicas)" 20 bash -c \
  "test \"\$(kubectl get deployment usp-searches -o jsonpath='{.spec.replicas}')\" = 3"
HASH_AFTER=$(kubectl get deployment usp-searches -o jsonpath='{.spec.template.metadata.annotations.usp\.dev/config-hash}')
check "the config hash on the pod template changes, so pods roll" test "$HASH_BEFORE" != "$HASH_AFTER" -a -n "$HASH_AFTER"
check_eventually "status follows: 2 active, Ready again" 90 bash -c \
  "kubectl get usersignal searches -o json | jq -e '.status.replicas.active == 2 and .status.observedGeneration == .metadata.generation and ([.status.conditions[] | select(.type == \"Ready\")][0].status == \"True\")'"
# With real workers: the rolled pods took the partitions over (a deleted
# pod's are revoked first), and parallelism 2 splits them between two actives.
actives_cover() {  # actives_cover N: N actives own all 8 partitions, one warm standby
  kubectl get usersignal searches -o json | jq -e --argjson n "$1" '.status.assignment
    | ([.workers[] | select(.role == "active")] | length) == $n
      and ([.workers[] | select(.role == "active") | .partitions[]] | sort) == [0,1,2,3,4,5,6,7]
      and ([.workers[] | select(.role == "standby" and .warm)] | length) == 1
      and (.unassigned | length) == 0'
}
if [ -n "$REAL_WORKERS" ]; then
  check_eventually "after the rollout, status.assignment: 2 actives own all 8 partitions, 1 warm standby" 90 \
    actives_cover 2
fi

# --- watch faults: 410 Gone, dropped streams, 409 on status ---------------------------
LISTS_BEFORE=$(grep -c 'relisting' "$WORK/op-$LEADER.log")
faults '{"compact": true, "expire_watches": true}'
kubectl patch usersignal home-views --type merge -p '{"spec":{"standbyReplicas":2}}' >/dev/null
check_eventually "after an injected 410 Gone the update is not missed (home-views -> 3 replicas)" 30 bash -c \
  "test \"\$(kubectl get deployment usp-home-views -o jsonpath='{.spec.replicas}')\" = 3"
check "the operator relisted on 410" test "$(grep -c 'relisting' "$WORK/op-$LEADER.log")" -gt "$LISTS_BEFORE"
faults '{"drop_watches": "reset"}'
kubectl patch usersignal home-views --type merge -p '{"spec":{"standbyReplicas":1}}' >/dev/null
check_eventually "after dropped (reset) watches the update is not missed (home-views -> 2 replicas)" 30 bash -c \
  "test \"\$(kubectl get deployment usp-home-views -o jsonpath='{.spec.replicas}')\" = 2"
faults '{"drop_watches": true, "watch_gone_next": 1}'
kubectl patch usersignal home-views --type merge -p '{"spec":{"parallelism":2}}' >/dev/null
check_eventually "after a silent close and a 410 on reconnect the update is not missed (home-views -> 3)" 30 bash -c \
  "test \"\$(kubectl get deployment usp-home-views -o jsonpath='{.spec.replicas}')\" = 3"
faults '{"conflict_next": {"verb": "PUT", "resource": "usersignals", "subresource": "status", "count": 2}}'
kubectl patch usersignal home-views --type merge -p '{"spec":{"parallelism":1}}' >/dev/null
check_eventually "409 Conflicts on the status update are retried (observedGeneration catches up)" 30 bash -c \
  "kubectl get usersignal home-views -o json | jq -e '.status.observedGeneration == .metadata.generation'"
faults '{"clear": true}'

# --- deletion cascades ----------------------------------------------------------------
check "kubectl delete usersignal bookings" kubectl delete usersignal bookings --wait=false
check_eventually "the UserSignal is gone once the finalizer ran" 30 bash -c "! kubectl get usersignal bookings"
check_eventually "its Deployment and ConfigMap are garbage-collected" 30 bash -c \
  "! kubectl get deployment usp-bookings && ! kubectl get configmap usp-bookings"
check_eventually "its worker pods go away" 30 bash -c \
  "test -z \"\$(kubectl get pods -l usp.dev/job=bookings -o name)\""
check "the query catalog no longer lists it" bash -c \
  "kubectl get configmap usp-query-catalog -o json | jq -e '.data | has(\"default.bookings.yaml\") | not'"

check_eventually "the segment reading bookings turns Ready=False SignalNotFound (spec.exit.signals[0])" 30 bash -c \
  "kubectl get usersegment active-trip-planner -o json | jq -e '[.status.conditions[] | select(.type == \"Ready\")][0]
     | .reason == \"SignalNotFound\" and (.message | startswith(\"spec.exit.signals[0]: no UserSignal\"))'"
check "its workloads are left alone" kubectl get deployment usp-segment-active-trip-planner

# --- leadership -------------------------------------------------------------------------
check "the follower never reconciled while the leader lived" test "$(reconciles "$FOLLOWER")" = 0
check "the leader's /metrics has reconcile count, duration and queue depth" bash -c \
  "curl -s $(op_url "$LEADER")/metrics | grep -q 'usp_operator_reconcile_total{kind=\"UserSignal\",result=\"success\"}' && \
   curl -s $(op_url "$LEADER")/metrics | grep -q 'usp_operator_reconcile_duration_seconds_count{kind=\"UserSignal\"}' && \
   curl -s $(op_url "$LEADER")/metrics | grep -q 'usp_operator_queue_depth'"
EPOCH_BEFORE=$(kubectl get usersignal searches -o jsonpath='{.status.assignment.epoch}')
LAST_LEADER_TS=$(grep '"reconciled UserSignal' "$WORK/op-$LEADER.log" | tail -1 | jq -r .ts)
stop_pid "${OP_PID[$LEADER]}" KILL
unset "OP_PID[$LEADER]"
check_eventually "after the leader dies, op-$FOLLOWER takes over the Lease" 30 bash -c \
  "test \"\$(kubectl get lease usp-operator -o jsonpath='{.spec.holderIdentity}')\" = op-$FOLLOWER"
kubectl patch usersignal searches --type merge -p '{"spec":{"parallelism":1}}' >/dev/null
check_eventually "the new leader reconciles (searches back to 2 replicas)" 30 bash -c \
  "test \"\$(kubectl get deployment usp-searches -o jsonpath='{.spec.replicas}')\" = 2"
if [ -n "$REAL_WORKERS" ]; then
  # It adopts the workers' epoch (no restart from 1) and moves the partitions
  # of the scaled-down active only.
  check_eventually "the new leader adopts the assignment (epoch > $EPOCH_BEFORE) and runs parallelism 1" 60 bash -c \
    "kubectl get usersignal searches -o json | jq -e '.status.assignment.epoch > ${EPOCH_BEFORE:-0} and .status.assignment.parallelism == 1'"
  check_eventually "after scaling down: 1 active owns all 8 partitions, 1 warm standby" 60 actives_cover 1
fi
FIRST_FOLLOWER_TS=$(grep '"reconciled UserSignal' "$WORK/op-$FOLLOWER.log" | head -1 | jq -r .ts)
echo "#   last reconcile of op-$LEADER: $LAST_LEADER_TS; first of op-$FOLLOWER: $FIRST_FOLLOWER_TS"
check "the two operators' reconciles never overlap in time" \
  bash -c "[[ -n \"\$1\" && -n \"\$2\" && \"\$1\" < \"\$2\" ]]" _ "$LAST_LEADER_TS" "$FIRST_FOLLOWER_TS"
check_eventually "the new leader is Ready with synced informers" 20 curl -sf "$(op_url "$FOLLOWER")/readyz"
stop_pid "${OP_PID[$FOLLOWER]}" TERM
unset "OP_PID[$FOLLOWER]"
check "on SIGTERM the leader releases the Lease" test -z "$(lease_holder)"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
