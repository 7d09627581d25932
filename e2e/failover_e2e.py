#!/usr/bin/env python3
"""Failover under steady load in local mode (issue 4; R7 in BENCHMARKS.md).

`uspctl local` runs one UserSignal with parallelism 2 and 1 warm standby on an
8-partition topic while kcat produces a steady stream of events. The test
`kill -9`s an active worker KILLS times, alternating between the two halves
of the partitions, and measures for each kill, from the moment of the kill:
detection (the controller marks the worker failed), handover (the standby
acknowledged the partitions) and the standby's first output on them (the
worker's own acknowledgement time of its first record, reported in /status).
Afterwards every produced event must be queryable through the API exactly
once. In the same run, a plain librdkafka consumer group with default settings
takes over a killed member's partitions (bench/usp-bench-group-failover) and
the ratio of the p99s is printed.

usage: e2e/failover_e2e.py BUILD_DIR [--kills 10] [--rate 300] [--no-reference]
                           [--json-out FILE]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PARTITIONS = 8
USERS = 64

RESOURCE = """apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: searches
spec:
  type: simple
  eventSources:
    - kafkaTopic: events.search
  userIdField: /user_id
  eventTimeField: /event_time
  eventIdField: /event_id
  attributes:
    destination: /query/destination
  onError: deadLetter
  parallelism: 2
  standbyReplicas: 1
  failover:
    probeInterval: 500ms
    failureThreshold: 2
"""


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, cond):
        if cond:
            print("ok - " + what, flush=True)
            self.passed += 1
        else:
            print("not ok - " + what, flush=True)
            self.failed += 1
        return cond


def now_ms():
    return int(time.time() * 1000)


def percentile(values, q):
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, int(-(-q * len(s) // 100)))  # ceil(q/100 * n)
    return s[min(rank, len(s)) - 1]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


class Producer:
    """A steady stream of search events through kcat; remembers what it sent."""

    def __init__(self, bootstrap, rate):
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", bootstrap, "-t", "events.search", "-K", "\t",
             "-X", "linger.ms=5"],
            stdin=subprocess.PIPE, text=True)
        self.rate = rate
        self.sent = {}  # user -> set(event ids)
        self.count = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        start = time.time()
        base = now_ms() - 3600 * 1000
        while not self.stop_flag.is_set():
            due = int((time.time() - start) * self.rate)
            while self.count < due:
                n = self.count
                user = "fo-user-%d" % (n % USERS)
                eid = "fo-%d" % n
                t = base + n  # distinct event times
                event = {"event_id": eid, "user_id": user,
                         "event_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000))
                         + ".%03dZ" % (t % 1000),
                         "event_type": "search", "query": {"destination": "City%d" % (n % 50)}}
                self.proc.stdin.write(user + "\t" + json.dumps(event) + "\n")
                self.sent.setdefault(user, set()).add(eid)
                self.count += 1
            self.proc.stdin.flush()
            time.sleep(0.005)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--rate", type=float, default=300, help="events/s produced during the test")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the consumer-group reference (about 60 s)")
    ap.add_argument("--json-out", help="write the figures here")
    args = ap.parse_args()

    build = os.path.abspath(args.build_dir)
    uspctl = os.path.join(build, "cli", "uspctl")
    checks = Checks()
    work = tempfile.mkdtemp(prefix="usp-failover-")
    state = os.path.join(work, "state")
    os.makedirs(os.path.join(work, "resources"))
    with open(os.path.join(work, "resources", "searches.yaml"), "w") as f:
        f.write(RESOURCE)
    out = open(os.path.join(work, "uspctl.out"), "w")
    local = subprocess.Popen(
        [uspctl, "local", "--resources", os.path.join(work, "resources"), "--query-port", "0",
         "--partitions", str(PARTITIONS), "--state-dir", state],
        stdout=out, stderr=subprocess.STDOUT)
    producer = None
    broker = None
    try:
        endpoints = os.path.join(state, "endpoints.json")
        deadline = time.time() + 90
        while not os.path.exists(endpoints) and local.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        if not checks.check("uspctl local starts 2 actives and 1 standby and writes endpoints.json",
                            os.path.exists(endpoints)):
            return 1
        ep = read_json(endpoints)
        api = ep["query_url"]

        def job_state():
            doc = read_json(os.path.join(state, "assignments.json")) or {"jobs": []}
            for j in doc["jobs"]:
                if j["job"] == "searches":
                    return j
            return None

        def settled():
            """2 actives owning all partitions once, and a warm standby."""
            j = job_state()
            if not j:
                return None
            workers = j["assignment"]["workers"]
            actives = [w for w in workers if w["role"] == "active"]
            standbys = [w for w in workers if w["role"] == "standby" and w["warm"]]
            owned = sorted(p for w in actives for p in w["partitions"])
            if len(actives) == 2 and standbys and owned == list(range(PARTITIONS)):
                return j
            return None

        def wait_settled(timeout=30):
            end = time.time() + timeout
            while time.time() < end:
                j = settled()
                if j:
                    return j
                time.sleep(0.1)
            return None

        j = wait_settled()
        checks.check("the assignment shows 2 actives over partitions 0-7 and a warm standby",
                     j is not None)
        if j is None:
            return 1
        print(j["table"], end="", flush=True)

        producer = Producer(ep["kafka_bootstrap"], args.rate)
        producer.start()
        time.sleep(2)  # steady state

        def pid_of(worker):
            doc = read_json(os.path.join(state, "processes.json")) or {"processes": []}
            for p in doc["processes"]:
                if p.get("worker") == worker:
                    return p["pid"]
            return 0

        def failover_lines():
            path = os.path.join(state, "failovers.jsonl")
            if not os.path.exists(path):
                return []
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]

        def worker_claims():
            doc = read_json(os.path.join(state, "processes.json")) or {"processes": []}
            claims = {}
            for p in doc["processes"]:
                if p.get("job") != "searches" or not p.get("port"):
                    continue
                try:
                    st = http_json("http://127.0.0.1:%d/status" % p["port"], timeout=2)
                    claims[p["worker"]] = st["partitions"]
                except (OSError, ValueError):
                    pass  # the dead one
            return claims

        trials = []
        double_owned = []
        last_parts = None
        for k in range(args.kills):
            j = wait_settled()
            if j is None:
                checks.check("kill %d: the job settles with a warm standby first" % (k + 1), False)
                break
            time.sleep(0.5)  # steady load between kills
            actives = [w for w in j["assignment"]["workers"] if w["role"] == "active"]
            # Different partitions from the previous kill where possible.
            actives.sort(key=lambda w: w["partitions"] == last_parts)
            victim = actives[0]
            pid = pid_of(victim["name"])
            if not pid:
                checks.check("kill %d: pid of %s known" % (k + 1, victim["name"]), False)
                break
            t_kill = now_ms()
            os.kill(pid, signal.SIGKILL)
            record = None
            end = time.time() + 20
            while time.time() < end and record is None:
                for r in failover_lines():
                    if (r["worker"] == victim["name"] and r["failedAt"] >= t_kill - 5
                            and "firstOutputAt" in r):
                        record = r
                time.sleep(0.02)
            # No partition owned twice: as the controller sees it, and as the
            # workers themselves report it (GET /status on each).
            js = job_state()
            if js:
                owned = [p for w in js["assignment"]["workers"] for p in w["partitions"]]
                if len(owned) != len(set(owned)):
                    double_owned.append(js["assignment"])
            claims = worker_claims()
            flat = [p for ps in claims.values() for p in ps]
            if len(flat) != len(set(flat)):
                double_owned.append(claims)
            if record is None:
                checks.check("kill %d: %s's partitions %s handed over and producing" %
                             (k + 1, victim["name"], victim["partitions"]), False)
                continue
            trial = {
                "worker": victim["name"],
                "partitions": record["partitions"],
                "to": record["promoted"],
                "detection_ms": record["detectedAt"] - t_kill,
                "handover_ms": record["handedOverAt"] - record["detectedAt"],
                "first_output_ms": record["firstOutputAt"] - t_kill,
            }
            trials.append(trial)
            last_parts = victim["partitions"]
            print("  kill %2d: %-12s partitions %-14s -> %-12s detection %4d ms, handover %4d ms, "
                  "first output %4d ms after the kill" %
                  (k + 1, trial["worker"], json.dumps(trial["partitions"]), ",".join(trial["to"]),
                   trial["detection_ms"], trial["handover_ms"], trial["first_output_ms"]),
                  flush=True)

        checks.check("%d of %d kills failed over to the warm standby, which produced output" %
                     (len(trials), args.kills), len(trials) == args.kills)
        checks.check("the standby took exactly the killed worker's partitions every time",
                     all(t["to"] and t["to"][0] != t["worker"] for t in trials))
        covered = set()
        for t in trials:
            covered.add(tuple(t["partitions"]))
        checks.check("kills hit different partitions (%d distinct sets)" % len(covered),
                     len(covered) >= 2 or args.kills < 2)
        checks.check("no partition owned twice, by the controller or by the workers' own /status %s"
                     % (double_owned[:1] or ""), not double_owned)

        producer.stop()
        produced = producer.count
        # Exactly once through the API: every event, no duplicate rows.
        missing = extra = dup = 0
        end = time.time() + 60
        while True:
            missing = extra = dup = 0
            for user, ids in producer.sent.items():
                body = http_json("%s/v1/users/%s/signals?types=searches&limit=1000" % (api, user))
                got = [s["event_id"] for s in body["signals"]]
                dup += len(got) - len(set(got))
                missing += len(ids - set(got))
                extra += len(set(got) - ids)
            if (missing == 0 and dup == 0) or time.time() > end:
                break
            time.sleep(0.5)
        checks.check("all %d produced events are queryable (missing %d)" % (produced, missing),
                     missing == 0)
        checks.check("no duplicate rows (duplicates %d) and nothing unexpected (%d)" %
                     (dup, extra), dup == 0 and extra == 0)

        def stats(key):
            vals = [t[key] for t in trials]
            return {"p50": percentile(vals, 50), "p99": percentile(vals, 99),
                    "max": max(vals) if vals else None}

        summary = {"kills": len(trials), "events": produced, "missing": missing,
                   "duplicates": dup, "trials": trials,
                   "detection_ms": stats("detection_ms"), "handover_ms": stats("handover_ms"),
                   "first_output_ms": stats("first_output_ms")}
        print("failover (USP, kill -9 -> standby's first output), %d kills: "
              "p50 %s ms, p99 %s ms; detection p50 %s / p99 %s ms; handover p50 %s / p99 %s ms" %
              (len(trials), summary["first_output_ms"]["p50"], summary["first_output_ms"]["p99"],
               summary["detection_ms"]["p50"], summary["detection_ms"]["p99"],
               summary["handover_ms"]["p50"], summary["handover_ms"]["p99"]), flush=True)
        p99 = summary["first_output_ms"]["p99"]
        # Behaviour, not a speed target: a failover is a matter of a second
        # or so, never a session timeout. The measured figures are printed.
        checks.check("every failover produced output within 5 s of the kill (p99 %s ms)" % p99,
                     p99 is not None and p99 < 5000)

        if not args.no_reference:
            tool = os.path.join(build, "bench", "usp-bench-group-failover")
            if not os.path.exists(tool):
                print("# reference skipped: %s not built" % tool)
            else:
                bfile = os.path.join(work, "r7.bootstrap")
                broker = subprocess.Popen(
                    [uspctl, "broker", "--topic", "r7", "--partitions", str(PARTITIONS),
                     "--bootstrap-file", bfile], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                end = time.time() + 30
                while not os.path.exists(bfile) and time.time() < end:
                    time.sleep(0.1)
                with open(bfile) as f:
                    rb = f.read().strip()
                ref = subprocess.run([tool, "--bootstrap", rb, "--topic", "r7", "--partitions",
                                      str(PARTITIONS), "--kills", "1", "--json"],
                                     capture_output=True, text=True, timeout=300)
                ref_doc = None
                for line in reversed(ref.stdout.splitlines()):
                    if line.startswith("{"):
                        ref_doc = json.loads(line)
                        break
                if checks.check("the consumer-group reference ran", ref_doc is not None):
                    ref_p99 = ref_doc["p99_ms"]
                    summary["reference"] = ref_doc
                    ratio = p99 / ref_p99 if p99 and ref_p99 else None
                    summary["r7"] = ratio
                    print("R7 = %.4f  (USP p99 %s ms / consumer group p99 %s ms, "
                          "session.timeout.ms %s; goal <= 0.05 and p99 < 1000 ms)" %
                          (ratio, p99, ref_p99, ref_doc.get("session_timeout_ms")), flush=True)
                    # The mock cluster holds a rebalance open for another session
                    # timeout; a real broker would not. The conservative ratio uses
                    # only the group's detection (survivor sees the rebalance).
                    detect = [d for d in ref_doc.get("detect_ms", []) if d]
                    if detect and p99:
                        summary["r7_vs_detection"] = p99 / max(detect)
                        print("R7 (conservative, vs the group's detection alone, %s ms) = %.4f" %
                              (max(detect), p99 / max(detect)), flush=True)
                else:
                    print(ref.stdout[-2000:], ref.stderr[-2000:])
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(summary, f, indent=2)
    finally:
        if producer and not producer.stop_flag.is_set():
            producer.stop()
        if broker:
            broker.terminate()
            broker.wait()
        if local.poll() is None:
            local.send_signal(signal.SIGTERM)
            try:
                local.wait(timeout=30)
            except subprocess.TimeoutExpired:
                local.kill()
        out.close()
        if checks.failed:
            with open(os.path.join(work, "uspctl.out")) as f:
                print("--- uspctl output (tail)\n" + "".join(f.readlines()[-60:]))
            logs = os.path.join(state, "logs")
            for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
                with open(os.path.join(logs, name)) as f:
                    print("--- %s (tail)\n%s" % (name, "".join(f.readlines()[-15:])))
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    random.seed(7)
    sys.exit(main())
