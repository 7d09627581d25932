#!/usr/bin/env bash
# End-to-end test of local mode: `uspctl local` on examples/, events produced
# with kcat (a Kafka client we did not write), checks through the HTTP API.
#
# usage: e2e/local_e2e.sh BUILD_DIR
set -uo pipefail

BUILD=$(cd "${1:?usage: local_e2e.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USPCTL="$BUILD/cli/uspctl"
STATE=$(mktemp -d /tmp/usp-e2e.XXXXXX)
PASSED=0
FAILED=0
LOCAL_PID=""

ok()   { echo "ok - $*"; PASSED=$((PASSED + 1)); }
fail() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

cleanup() {
  if [ -n "$LOCAL_PID" ] && kill -0 "$LOCAL_PID" 2>/dev/null; then
    kill -TERM "$LOCAL_PID"; wait "$LOCAL_PID" 2>/dev/null
  fi
  if [ "$FAILED" -ne 0 ]; then
    echo "--- uspctl output"; cat "$STATE/uspctl.out" 2>/dev/null | tail -30
    for f in "$STATE"/logs/*.log; do echo "--- $f"; tail -20 "$f"; done
  fi
  rm -rf "$STATE"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# --- start the platform --------------------------------------------------
"$USPCTL" local --resources "$ROOT/examples" --query-port 0 --partitions 4 \
  --state-dir "$STATE" >"$STATE/uspctl.out" 2>&1 &
LOCAL_PID=$!
for _ in $(seq 1 600); do
  [ -f "$STATE/endpoints.json" ] && break
  kill -0 "$LOCAL_PID" 2>/dev/null || break
  sleep 0.1
done
if [ ! -f "$STATE/endpoints.json" ]; then
  fail "uspctl local writes endpoints.json once ready"
  echo "$PASSED passed, $FAILED failed"; exit 1
fi
ok "uspctl local writes endpoints.json once ready"
BOOT=$(jq -r .kafka_bootstrap "$STATE/endpoints.json")
API=$(jq -r .query_url "$STATE/endpoints.json")

signals() {  # USER [QUERY]
  curl -sf "$API/v1/users/$1/signals${2:-}"
}
count_signals() {  # USER TYPE
  signals "$1" "?types=$2&limit=1000" | jq '.signals | length'
}
# Waits until USER has N signals of TYPE; prints the elapsed ms.
wait_count() {  # USER TYPE N TIMEOUT_MS
  local start; start=$(now_ms)
  while :; do
    local c; c=$(count_signals "$1" "$2" 2>/dev/null || echo 0)
    if [ "${c:-0}" -ge "$3" ]; then echo $(( $(now_ms) - start )); return 0; fi
    if [ $(( $(now_ms) - start )) -gt "$4" ]; then echo "timeout (have $c of $3)"; return 1; fi
    sleep 0.02
  done
}
# The job's active worker (examples run parallelism 1 + 1 standby), from the
# assignment table uspctl local keeps in assignments.json.
active_worker() {
  jq -r --arg j "$1" '.jobs[] | select(.job == $j) | .assignment.workers[] |
    select(.role == "active") | .name' "$STATE/assignments.json" | head -1
}
worker_pid() { jq -r --arg w "$1" '.processes[] | select(.worker == $w) | .pid' "$STATE/processes.json"; }
job_ports() { jq -r --arg j "$1" '.processes[] | select(.job == $j) | .port' "$STATE/processes.json"; }
metric() {  # JOB METRIC_NAME: the sum of the metric's samples over the job's workers
  local port
  for port in $(job_ports "$1"); do
    curl -sf "http://127.0.0.1:$port/metrics"
  done | awk -v m="$2" '$1 ~ "^"m"({|$)" { s += $2 } END { print s + 0 }'
}

search_event() {  # USER SEQ EPOCH_MS
  local t; t=$(date -u -d "@$(( $3 / 1000 ))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $(( $3 % 1000 )))Z
  printf '{"event_id":"e2e-%s-%s","user_id":"%s","event_time":"%s","event_type":"search","query":{"destination":"City%s","checkin":"2026-12-20","checkout":"2026-12-27","guests":2},"context":{"platform":"web"}}\n' \
    "$1" "$2" "$1" "$t" "$2"
}

# --- 1. the right records in the right order, within 1 s -----------------
U=user-e2e-$RANDOM
BASE=$(( $(now_ms) - 60000 ))
: >"$STATE/batch1.jsonl"
for i in 1 2 3 4 5; do search_event "$U" "$i" $(( BASE + i * 1000 )) >>"$STATE/batch1.jsonl"; done
kcat -P -b "$BOOT" -t events.search -k "$U" <"$STATE/batch1.jsonl"
ELAPSED=$(wait_count "$U" searches 5 10000)
check "5 searches queryable after producing ($ELAPSED ms)" test "${ELAPSED%% *}" != timeout
check "queryable within 1 s of producing (took $ELAPSED ms)" test "${ELAPSED%% *}" -lt 1000 2>/dev/null
BODY=$(signals "$U" "?types=searches")
check "records are newest first" \
  test "$(echo "$BODY" | jq -c '[.signals[].attributes.destination]')" = '["City5","City4","City3","City2","City1"]'
check "records carry user, signal, event time and event id" \
  test "$(echo "$BODY" | jq -c '.signals[0] | [.user_id, .signal, .event_time, .event_id]')" = \
       "[\"$U\",\"searches\",$(( BASE + 5000 )),\"e2e-$U-5\"]"
check "freshness reports the searches watermark" \
  test "$(echo "$BODY" | jq '.freshness.searches >= '$(( BASE + 5000 )))" = true
check "start/end/limit select a time range" \
  test "$(signals "$U" "?types=searches&start=$(( BASE + 2000 ))&end=$(( BASE + 4000 ))" | jq -c '[.signals[].event_id]')" = \
       "[\"e2e-$U-3\",\"e2e-$U-2\"]"
check "an unknown signal type is a 404" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/users/$U/signals?types=nope")" = 404
check "a bad parameter is a 400" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/users/$U/signals?limit=abc")" = 400
check "a user with no data gets 200 and an empty list" \
  test "$(signals nobody-$RANDOM | jq '.signals | length')" = 0

# --- 2. the same events twice give no duplicate rows ---------------------
kcat -P -b "$BOOT" -t events.search <"$STATE/batch1.jsonl"
search_event "$U" 6 $(( BASE + 6000 )) | kcat -P -b "$BOOT" -t events.search
wait_count "$U" searches 6 10000 >/dev/null
sleep 0.5
check "replayed events add no duplicate rows" test "$(count_signals "$U" searches)" = 6

# --- 3. a malformed event is dead-lettered, processing goes on -----------
DLQ_BEFORE=$(metric searches usp_events_dead_lettered_total)
printf 'this is {not json\n' | kcat -P -b "$BOOT" -t events.search
printf '{"user_id":"%s","event_type":"search","query":{"destination":"X"}}\n' "$U" | kcat -P -b "$BOOT" -t events.search
search_event "$U" 7 $(( BASE + 7000 )) | kcat -P -b "$BOOT" -t events.search
check "processing continues after malformed events" wait_count "$U" searches 7 10000
for _ in $(seq 1 50); do
  [ "$(metric searches usp_events_dead_lettered_total)" -ge $(( DLQ_BEFORE + 2 )) ] && break; sleep 0.1
done
check "malformed events are counted in usp_events_dead_lettered_total" \
  test "$(metric searches usp_events_dead_lettered_total)" -eq $(( DLQ_BEFORE + 2 ))
DLQ=$(kcat -C -b "$BOOT" -t usp.dlq.searches -o beginning -e -q 2>/dev/null | grep -m1 'not json' || true)
check "the dead letter carries source topic, partition, offset and error" \
  test "$(echo "$DLQ" | jq -r '[.source_topic, (.source_partition|type), (.source_offset|type), .error.reason] | join(",")' 2>/dev/null)" = \
       "events.search,number,number,not_json"

# --- 4. a worker killed with kill -9: failover, restart, nothing lost ----
VICTIM=$(active_worker searches)
OLD_PID=$(worker_pid "$VICTIM")
kill -9 "$OLD_PID"
: >"$STATE/batch2.jsonl"
for i in $(seq 8 27); do search_event "$U" "$i" $(( BASE + i * 1000 )) >>"$STATE/batch2.jsonl"; done
kcat -P -b "$BOOT" -t events.search <"$STATE/batch2.jsonl"
for _ in $(seq 1 100); do
  NEW_PID=$(worker_pid "$VICTIM"); [ "$NEW_PID" != "$OLD_PID" ] && [ "$NEW_PID" != 0 ] && break; sleep 0.1
done
check "uspctl local restarts the killed worker $VICTIM (pid $OLD_PID -> $NEW_PID)" test "$NEW_PID" != "$OLD_PID"
for _ in $(seq 1 50); do
  [ -n "$(active_worker searches)" ] && [ "$(active_worker searches)" != "$VICTIM" ] && break; sleep 0.1
done
check "the standby took over from $VICTIM ($(active_worker searches) is active)" \
  test "$(active_worker searches)" != "$VICTIM"
STATUS_OUT=$("$USPCTL" status --state-dir "$STATE" --job searches)
check "uspctl status shows the table with the new active and the last failover" \
  bash -c 'grep -q "UserSignal/searches  epoch" <<<"$1" && grep -q "last failover: $2" <<<"$1"' _ "$STATUS_OUT" "$VICTIM"
check "the failover is recorded in failovers.jsonl" \
  test "$(jq -r --arg w "$VICTIM" 'select(.worker == $w) | .promoted[0]' "$STATE/failovers.jsonl" | head -1)" = "$(active_worker searches)"
check "events produced around the kill are all queryable" wait_count "$U" searches 27 15000
sleep 0.5
check "and none is duplicated" test "$(count_signals "$U" searches)" = 27

# --- 5. clean shutdown ----------------------------------------------------
kill -TERM "$LOCAL_PID"; wait "$LOCAL_PID"; RC=$?
LOCAL_PID=""
check "uspctl local exits 0 on SIGTERM" test "$RC" = 0
check "endpoints.json is removed on shutdown" test ! -f "$STATE/endpoints.json"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
