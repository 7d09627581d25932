#!/usr/bin/env python3
"""Hostile input in local mode (issue 8): bad records never crash a worker
and are never silently lost.

`uspctl local` runs one simple UserSignal, `hi-signal` (onError: deadLetter,
parallelism 2, no standby) over the 4-partition topic events.hostile. One
kcat producer writes, as raw bytes, VALID events with unique event ids
(200 users) and interleaves:

  - 1 malformed record per 1,000 valid ones, cycling through truncated JSON,
    wrong types and missing values for the user id / event time / event id
    fields, non-object JSON ([], 42, "x", null) and an empty payload;
  - invalid UTF-8 (in a field the signal reads, in one it ignores, in the
    user id);
  - 10,000-deep nesting ([[[...]]] and {"a":{"a":...}}) in a field the
    signal reads, in one it ignores, and as the whole payload;
  - oversized records: 900 KB and 1.5 MB, valid ones (the bulk in an
    ignored field, or in a read attribute) and invalid ones.

Every injected record has a stated classification (valid, or dead letter
with its reason): simdjson validates UTF-8 and bounds nesting at 1,024
levels for the whole document, so invalid UTF-8 and 10,000-deep nesting are
`not_json` wherever they sit; a valid event whose signal record would exceed
the producer's message.max.bytes (1,000,000) is `output_too_large`.

Asserts: no worker restarted; the dead-letter topic holds exactly the
injected invalid records (one each, by source offset, each naming the
expected reason); usp_events_dead_lettered_total and
usp_events_failed_total{reason} on the workers' /metrics agree; every valid
event is queryable exactly once through the API and nothing else is.

usage: e2e/hostile_input_e2e.py BUILD_DIR [--events 20000] [--users 200]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from usp_e2e import Checks, LocalPlatform, eventually, http_json, now_ms  # noqa: E402

PARTITIONS = 4
SIGNAL = "hi-signal"
TOPIC = "events.hostile"
DLQ = "usp.dlq." + SIGNAL
RESOURCES = {
    "signal.yaml": """apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: %s
spec:
  type: simple
  eventSources:
    - kafkaTopic: %s
  userIdField: /user_id
  eventTimeField: /event_time
  eventIdField: /event_id
  attributes:
    n: /n
    v: /payload/v
  onError: deadLetter
  parallelism: 2
  standbyReplicas: 0
""" % (SIGNAL, TOPIC),
}

DEEP = 10000


def enc(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def valid_event(eid, user, t, n, v="x", extra=b""):
    """A valid event as bytes; `extra` is spliced in as more raw members."""
    body = enc({"event_id": eid, "user_id": user, "event_time": t, "n": n, "payload": {"v": v}})
    return body[:-1] + extra + b"}" if extra else body


def malformed_kinds(t):
    """(reason, payload bytes) of the 1-per-1,000 malformed records, cycled."""
    ok = {"event_id": "m", "user_id": "hi-bad", "event_time": t}

    def without(k):
        return enc({x: y for x, y in ok.items() if x != k})

    def with_(k, v):
        d = dict(ok)
        d[k] = v
        return enc(d)

    return [
        ("not_json", b'{"event_id":"m","user_id":'),          # truncated
        ("not_json", b'{"event_id":"m" "user_id":"u"}'),        # missing comma
        ("bad_user_id", with_("user_id", {"a": 1})),
        ("bad_user_id", with_("user_id", True)),
        ("bad_user_id", with_("user_id", "")),
        ("bad_event_time", with_("event_time", "yesterday")),
        ("bad_event_time", with_("event_time", [1])),
        ("missing_user_id", without("user_id")),
        ("missing_user_id", with_("user_id", None)),
        ("missing_event_time", without("event_time")),
        ("bad_event_id", without("event_id")),
        ("bad_event_id", with_("event_id", 1.5)),
        ("not_object", b"[]"),
        ("not_object", b"42"),
        ("not_object", b'"x"'),
        ("not_object", b"null"),
        ("not_json", b""),
    ]


def special_records(t, users):
    """[(classification, event id or None, payload)]: classification is
    "valid" or a dead-letter reason."""
    u = users[0]
    deep_arr = b"[" * DEEP + b"]" * DEEP
    deep_obj = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    big900 = "b" * (900 * 1024)
    big1500 = "b" * (1500 * 1024)
    out = [
        # Invalid UTF-8: simdjson validates the whole document.
        ("not_json", None, valid_event("hx-u1", u, t, -1, extra=b',"z":"') + b'\xff\xfe"}'),
        ("not_json", None, b'{"event_id":"hx-u2","user_id":"' + u.encode() + b'","event_time":' +
         str(t).encode() + b',"payload":{"v":"a\xc3\x28b"}}'),
        ("not_json", None, b'{"event_id":"hx-u3","user_id":"bad\xe2\x82","event_time":' +
         str(t).encode() + b'}'),
        # 10,000-deep nesting: past simdjson's 1,024-level bound wherever it is.
        ("not_json", None, b'{"event_id":"hx-d1","user_id":"' + u.encode() + b'","event_time":' +
         str(t).encode() + b',"payload":{"v":' + deep_arr + b'}}'),
        ("not_json", None, valid_event("hx-d2", u, t, -1, extra=b',"blob":' + deep_obj)),
        ("not_json", None, deep_arr),
        ("not_json", None, deep_obj),
        # Oversized, valid: the bulk in an ignored field, or in a read attribute
        # (the signal record stays under 1,000,000 bytes).
        ("valid", "hx-big1", valid_event("hx-big1", u, t, -1, extra=b"," + enc({"blob": big900})[1:-1])),
        ("valid", "hx-big2", valid_event("hx-big2", u, t, -1, v=big900)),
        ("valid", "hx-big3", valid_event("hx-big3", u, t, -1, extra=b"," + enc({"blob": big1500})[1:-1])),
        # Oversized, invalid: the dead letter carries (a prefix of) the payload.
        ("missing_user_id", None, enc({"event_id": "hx-big4", "event_time": t, "blob": big900})),
        ("missing_user_id", None, enc({"event_id": "hx-big5", "event_time": t, "blob": big1500})),
        # Valid, but the signal record would exceed message.max.bytes.
        ("output_too_large", None, valid_event("hx-big6", u, t, -1, v=big1500)),
    ]
    return out


class RawProducer:
    """key<TAB>value lines of bytes into TOPIC through one kcat."""

    def __init__(self, bootstrap):
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-K", "\t", "-X", "linger.ms=5",
             "-X", "message.max.bytes=4000000"], stdin=subprocess.PIPE)

    def send(self, key, payload):
        assert b"\n" not in payload, "kcat reads one record per line"
        self.proc.stdin.write(key.encode() + b"\t" + payload + b"\n")

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=120)


def read_dlq(bootstrap):
    """The dead letters, parsed; kcat exits at the end of every partition."""
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", DLQ, "-o", "beginning", "-e", "-q",
         "-f", "%s\n", "-X", "fetch.message.max.bytes=4000000"],
        stdout=subprocess.PIPE, timeout=120, check=True).stdout
    letters = []
    for line in out.split(b"\n"):
        if line.strip():
            letters.append(json.loads(line))
    return letters


def source_keys(bootstrap):
    """{(partition, offset): key} of every record on TOPIC."""
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e", "-q",
         "-f", "%p %o %k\n", "-X", "fetch.message.max.bytes=4000000"],
        stdout=subprocess.PIPE, timeout=120, check=True).stdout.decode()
    keys = {}
    for line in out.splitlines():
        p, o, k = line.split(" ", 2)
        keys[(int(p), int(o))] = k
    return keys


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def metric_sums(plat):
    """(dead lettered, consumed, {reason: failed}) over the job's workers."""
    dead = consumed = 0
    failed = {}
    for p in plat.workers_of(SIGNAL):
        text = scrape(p["port"])
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r'(\w+)\{([^}]*)\} (\S+)', line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2), float(m.group(3))
            if name == "usp_events_dead_lettered_total":
                dead += value
            elif name == "usp_events_consumed_total":
                consumed += value
            elif name == "usp_events_failed_total":
                reason = re.search(r'reason="([^"]*)"', labels).group(1)
                failed[reason] = failed.get(reason, 0) + value
    return int(dead), int(consumed), {k: int(v) for k, v in failed.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--events", type=int, default=20000, help="valid events")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds to wait for the job to catch up after the last record")
    args = ap.parse_args()
    checks = Checks()
    plat = LocalPlatform(args.build_dir, RESOURCES, PARTITIONS, prefix="usp-hostile-")
    try:
        if not checks.check("uspctl local starts %s" % SIGNAL, plat.wait_started()):
            return 1
        if not checks.check("2 actives own partitions 0-3",
                            eventually(120, lambda: plat.settled(SIGNAL, 2, 0), interval=0.3)):
            return 1
        users = ["hi-u%d" % i for i in range(args.users)]
        t0 = now_ms()
        kinds = malformed_kinds(t0)
        expected_valid = {}  # event id -> user
        expected_bad = []    # reasons, in production order
        bad_by_key = {}      # source key of each invalid record -> expected reason
        prod = RawProducer(plat.bootstrap)
        start = time.time()
        for n in range(args.events):
            user = users[n % args.users]
            eid = "hv-%d" % n
            prod.send(user, valid_event(eid, user, t0 + n, n))
            expected_valid[eid] = user
            if n % 1000 == 999:
                reason, payload = kinds[(n // 1000) % len(kinds)]
                prod.send("bad-%d" % n, payload)
                expected_bad.append(reason)
                bad_by_key["bad-%d" % n] = reason
        for k, (cls, eid, payload) in enumerate(special_records(t0, users)):
            prod.send("special-%d" % k, payload)
            if cls == "valid":
                expected_valid[eid] = users[0]
            else:
                expected_bad.append(cls)
                bad_by_key["special-%d" % k] = cls
        rc = prod.close()
        malformed = args.events // 1000
        print("# produced %d valid + %d malformed (1 per 1,000) + %d special records in %.1f s"
              % (args.events, malformed, len(special_records(t0, users)), time.time() - start),
              flush=True)
        checks.check("kcat produced every record", rc == 0, rc)
        total = len(expected_valid) + len(expected_bad)

        def consumed():
            try:
                return metric_sums(plat)
            except (OSError, ValueError):
                return None

        # Wait until the workers consumed everything and acknowledged every dead letter.
        want_reasons = {}
        for r in expected_bad:
            want_reasons[r] = want_reasons.get(r, 0) + 1
        end = time.time() + args.timeout
        sums = None
        while time.time() < end:
            sums = consumed()
            if sums and sums[1] >= total and sums[0] >= len(expected_bad):
                break
            time.sleep(1)
        print("# metrics: %s" % (sums,), flush=True)

        procs = [p for p in plat.processes() if p.get("job") == SIGNAL]
        restarts = {p["name"]: p["restarts"] for p in procs}
        checks.check("no worker restarted and every worker is running (%s)" % json.dumps(restarts),
                     len(procs) == 2 and all(p["pid"] and p["restarts"] == 0 for p in procs)
                     and all(v == 0 for v in restarts.values()))
        checks.check("workers consumed all %d records" % total, sums and sums[1] == total, sums)
        checks.check("usp_events_dead_lettered_total = %d injected invalid records"
                     % len(expected_bad), sums and sums[0] == len(expected_bad), sums)
        checks.check("usp_events_failed_total{reason} matches the classification %s"
                     % json.dumps(want_reasons, sort_keys=True),
                     sums and sums[2] == want_reasons, sums and sums[2])

        letters = read_dlq(plat.bootstrap)
        got_reasons = {}
        for d in letters:
            r = d["error"]["reason"]
            got_reasons[r] = got_reasons.get(r, 0) + 1
        offsets = {(d["source_partition"], d["source_offset"]) for d in letters}
        checks.check("%s holds exactly %d dead letters, one per source record (got %d, %d "
                     "distinct sources)" % (DLQ, len(expected_bad), len(letters), len(offsets)),
                     len(letters) == len(expected_bad) == len(offsets))
        checks.check("each dead letter names the expected reason (%s)"
                     % json.dumps(got_reasons, sort_keys=True), got_reasons == want_reasons)
        # Per record: the dead letter at each source position is the record
        # produced there with the reason its classification states.
        keys = source_keys(plat.bootstrap)
        got = {keys.get((d["source_partition"], d["source_offset"])): d["error"]["reason"]
               for d in letters}
        wrong = sorted((k, got.get(k), r) for k, r in bad_by_key.items() if got.get(k) != r)
        wrong += sorted((k, r, None) for k, r in got.items() if k not in bad_by_key)
        checks.check("each injected invalid record has its own dead letter with its stated "
                     "reason, and no valid record has one (%d wrong)" % len(wrong), not wrong,
                     wrong[:5])
        complete = all(d["source_topic"] == TOPIC and d["signal"] == SIGNAL and
                       d["error"]["message"] and "payload" in d for d in letters)
        checks.check("each dead letter carries topic, partition, offset, the error and the payload",
                     complete)
        sizes = [(d.get("payload_bytes", len(d["payload"])), len(d["payload"]),
                  d.get("payload_truncated", False)) for d in letters]
        huge = [x for x in sizes if x[0] > 1000 * 1024]
        checks.check("the two 1.5 MB records' dead letters carry a 64 KiB prefix and the full "
                     "size, the 900 KB one the whole payload (%s)" %
                     sorted(x for x in sizes if x[0] > 100 * 1024),
                     len(huge) == 2 and all(t and n == 64 * 1024 for _, n, t in huge) and
                     any(b == n > 900 * 1024 and not t for b, n, t in sizes))
        by_user = {}
        for eid, u in expected_valid.items():
            by_user.setdefault(u, set()).add(eid)

        def api_rows():
            missing = dup = extra = 0
            for u in users + ["hi-bad", "bad"]:
                body = http_json("%s/v1/users/%s/signals?types=%s&limit=10000" %
                                 (plat.api, u, SIGNAL), timeout=30)
                ids = [r["event_id"] for r in body["signals"]]
                want = by_user.get(u, set())
                dup += len(ids) - len(set(ids))
                missing += len(want - set(ids))
                extra += len(set(ids) - want)
            return missing, dup, extra

        result = api_rows()
        while result[0] and time.time() < end:
            time.sleep(2)
            result = api_rows()
        checks.check("all %d valid events queryable exactly once, nothing else (missing %d, "
                     "duplicates %d, unexpected %d)" % ((len(expected_valid),) + result),
                     result == (0, 0, 0))
        procs = [p for p in plat.processes() if p.get("job") == SIGNAL]
        checks.check("still no restarts at the end",
                     all(p["pid"] and p["restarts"] == 0 for p in procs),
                     [(p["name"], p["restarts"]) for p in procs])
    finally:
        plat.stop(dump_logs=checks.failed > 0)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
