#!/usr/bin/env python3
"""Failover time vs state size for a stateful job (bench/curves, issue 7).

For each size N, `uspctl local` runs a UserSignal `searches` (1 active, no
standby) and a UserSegment `planners` (enter on searches, 1 active + 1 warm
standby) on 16-partition topics. N search events of N distinct users are
produced first (kcat), so the segment's RocksDB state (and its changelog, which
the standby tails) holds N users; the run waits until the query API shows the
last users in the segment and the standby is warm. Then, under a steady stream
of searches by new users (every one an `enter`, so the segment writes output
continuously), the active segment worker is killed with SIGKILL KILLS times;
each kill is timed from the kill to the standby's first output on the
partitions (uspctl local's failovers.jsonl: detection, handover, first output),
as R7 does for a UserSignal. The workers' RSS (VmRSS) is read before the first
kill. Output: one JSON document (--json-out) with one point per size.

usage: bench/curve_failover.py BUILD_DIR [--users 1000 10000 100000] [--kills 3]
                               [--rate 200] [--json-out FILE]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PARTITIONS = 16

RESOURCES = """apiVersion: usp.dev/v1alpha1
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
  parallelism: 1
  standbyReplicas: 0
---
apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata:
  name: planners
spec:
  enter:
    signals: [searches]
  expireAfter: 14d
  parallelism: 1
  standbyReplicas: 1
  failover:
    probeInterval: 500ms
    failureThreshold: 2
"""


def log(msg):
    print("curve_failover: " + msg, file=sys.stderr, flush=True)


def now_ms():
    return int(time.time() * 1000)


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    rank = max(1, int(-(-q * len(s) // 100)))
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


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def event_line(user, n, t):
    event = {"event_id": "e-%s-%d" % (user, n), "user_id": user, "event_time": t,
             "query": {"destination": "City%d" % (n % 50)}}
    return user + "\t" + json.dumps(event, separators=(",", ":")) + "\n"


def kcat(bootstrap):
    return subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", "events.search", "-K", "\t",
                             "-X", "linger.ms=5"], stdin=subprocess.PIPE, text=True)


class LiveLoad:
    """Searches by new users at a steady rate: every one enters the segment."""

    def __init__(self, bootstrap, rate, tag):
        self.proc = kcat(bootstrap)
        self.rate = rate
        self.tag = tag
        self.count = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        start = time.time()
        while not self.stop_flag.is_set():
            due = int((time.time() - start) * self.rate)
            while self.count < due:
                self.proc.stdin.write(event_line("live-%s-%d" % (self.tag, self.count), 0, now_ms()))
                self.count += 1
            self.proc.stdin.flush()
            time.sleep(0.005)

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def measure(build, users, kills, rate):
    uspctl = os.path.join(build, "cli", "uspctl")
    work = tempfile.mkdtemp(prefix="usp-curve-failover-")
    state = os.path.join(work, "state")
    os.makedirs(os.path.join(work, "resources"))
    with open(os.path.join(work, "resources", "jobs.yaml"), "w") as f:
        f.write(RESOURCES)
    out = open(os.path.join(work, "uspctl.out"), "w")
    local = subprocess.Popen(
        [uspctl, "local", "--resources", os.path.join(work, "resources"), "--query-port", "0",
         "--partitions", str(PARTITIONS), "--state-dir", state],
        stdout=out, stderr=subprocess.STDOUT)
    load = None
    try:
        endpoints = os.path.join(state, "endpoints.json")
        deadline = time.time() + 120
        while not os.path.exists(endpoints) and local.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        ep = read_json(endpoints)
        if not ep:
            raise RuntimeError("uspctl local did not write endpoints.json")
        api = ep["query_url"]

        def job_state():
            doc = read_json(os.path.join(state, "assignments.json")) or {"jobs": []}
            for j in doc["jobs"]:
                if j["job"] == "planners":
                    return j
            return None

        def settled():
            j = job_state()
            if not j:
                return None
            workers = j["assignment"]["workers"]
            actives = [w for w in workers if w["role"] == "active"]
            # Warm and caught up: a standby restarted by the previous kill
            # is still restoring the state from the changelog.
            standbys = [w for w in workers if w["role"] == "standby" and w["warm"]
                        and w.get("replica_lag", 0) == 0]
            owned = sorted(p for w in actives for p in w["partitions"])
            if len(actives) == 1 and standbys and owned == list(range(PARTITIONS)):
                return j
            return None

        def wait_settled(timeout):
            end = time.time() + timeout
            while time.time() < end:
                j = settled()
                if j:
                    return j
                time.sleep(0.1)
            return None

        def processes():
            return (read_json(os.path.join(state, "processes.json")) or {"processes": []})["processes"]

        def pid_of(worker):
            for p in processes():
                if p.get("worker") == worker:
                    return p["pid"]
            return 0

        if wait_settled(60) is None:
            raise RuntimeError("the segment job did not settle with a warm standby")

        # N users of state.
        t0 = time.time()
        producer = kcat(ep["kafka_bootstrap"])
        base = now_ms()
        for u in range(users):
            producer.stdin.write(event_line("st-%d" % u, u, base + u % 1000))
        producer.stdin.close()
        producer.wait(timeout=300)
        probe_users = sorted({users - 1 - i * max(1, users // 20) for i in range(20) if users - 1 - i * max(1, users // 20) >= 0})
        deadline = time.time() + 600
        pending = list(probe_users)
        while pending and time.time() < deadline:
            body = http_json("%s/v1/users/st-%d/segments" % (api, pending[0]))
            if any(s.get("segment") == "planners" and s.get("in_segment") for s in body["segments"]):
                pending.pop(0)
            else:
                time.sleep(0.2)
        if pending:
            raise RuntimeError("state of %d users not materialized within 600 s" % users)
        if wait_settled(300) is None:
            raise RuntimeError("no warm standby after loading %d users" % users)
        load_s = time.time() - t0
        log("%d users of state loaded in %.1f s" % (users, load_s))

        j = settled()
        rss = {}
        for w in j["assignment"]["workers"]:
            pid = pid_of(w["name"])
            if pid:
                rss[w["role"]] = rss_mb(pid)

        load = LiveLoad(ep["kafka_bootstrap"], rate, str(users))
        time.sleep(2)
        trials = []
        for k in range(kills):
            j = wait_settled(300)
            if j is None:
                raise RuntimeError("kill %d: no warm standby" % (k + 1))
            time.sleep(1.0)
            victim = [w for w in j["assignment"]["workers"] if w["role"] == "active"][0]
            pid = pid_of(victim["name"])
            if not pid:
                raise RuntimeError("kill %d: pid of %s unknown" % (k + 1, victim["name"]))
            t_kill = now_ms()
            os.kill(pid, signal.SIGKILL)
            record = None
            end = time.time() + 60
            path = os.path.join(state, "failovers.jsonl")
            while time.time() < end and record is None:
                if os.path.exists(path):
                    with open(path) as f:
                        for line in f:
                            if not line.strip():
                                continue
                            r = json.loads(line)
                            if (r.get("worker") == victim["name"] and r.get("failedAt", 0) >= t_kill - 5
                                    and "firstOutputAt" in r):
                                record = r
                time.sleep(0.02)
            if record is None:
                raise RuntimeError("kill %d: no first output from the standby within 60 s" % (k + 1))
            trial = {"detection_ms": record["detectedAt"] - t_kill,
                     "handover_ms": record["handedOverAt"] - record["detectedAt"],
                     "first_output_ms": record["firstOutputAt"] - t_kill}
            log("%d users, kill %d: detection %d ms, handover %d ms, first output %d ms" %
                (users, k + 1, trial["detection_ms"], trial["handover_ms"], trial["first_output_ms"]))
            trials.append(trial)

        def stats(key):
            vals = [t[key] for t in trials]
            return {"p50": percentile(vals, 50), "max": max(vals) if vals else None}

        return {"users": users, "kills": len(trials), "load_seconds": round(load_s, 1),
                "worker_rss_mb": rss.get("active"), "standby_rss_mb": rss.get("standby"),
                "detection_ms": stats("detection_ms"), "handover_ms": stats("handover_ms"),
                "first_output_ms": stats("first_output_ms"), "trials": trials}
    except Exception:
        out.flush()
        with open(os.path.join(work, "uspctl.out")) as f:
            log("uspctl output (tail):\n" + "".join(f.readlines()[-30:]))
        raise
    finally:
        if load:
            load.stop()
        if local.poll() is None:
            local.send_signal(signal.SIGTERM)
            try:
                local.wait(timeout=30)
            except subprocess.TimeoutExpired:
                local.kill()
        out.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--users", type=int, nargs="+", default=[1000, 10000, 100000],
                    help="state sizes (users in the segment)")
    ap.add_argument("--kills", type=int, default=3, help="kills per size")
    ap.add_argument("--rate", type=float, default=200, help="live events/s during the kills")
    ap.add_argument("--json-out", help="write the figures here (else stdout)")
    args = ap.parse_args()
    if args.kills < 1 or any(u < 1 for u in args.users):
        ap.error("--kills and --users must be >= 1")
    build = os.path.abspath(args.build_dir)
    if not os.access(os.path.join(build, "cli", "uspctl"), os.X_OK):
        ap.error("%s/cli/uspctl not found (build the uspctl target)" % build)
    points = []
    for users in args.users:
        log("%d users of state, %d kill(s)" % (users, args.kills))
        points.append(measure(build, users, args.kills, args.rate))
    doc = {"job": "UserSegment (enter on searches), 1 active + 1 warm standby, %d partitions" % PARTITIONS,
           "method": "kill -9 of the active -> the standby's first output (uspctl local failovers.jsonl), under %g new-user events/s" % args.rate,
           "points": points}
    text = json.dumps(doc, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
