#!/usr/bin/env python3
"""Crash-replay under load in local mode (issue 8; after Kafka's
streams_eos_test and transactions_test).

`uspctl local` runs, on 6-partition topics, four jobs under test with 3 active
workers and 1 warm standby each:

  cr-searches    simple UserSignal over events.search
  cr-joined      left_join: each search (left) with the user's booking (right)
  cr-planner     UserSegment: in on cr-searches, out on cr-bookings
  cr-engagement  SessionJob: sliding 10s/5s windows counting cr-searches

plus cr-bookings (simple, over events.booking, not killed). EVENTS keyed
events with a per-user sequence number go in through kcat; every time the
production passes another 10% (9 times) one random worker of each job under
test gets `kill -9` — 36 kills in all, at least 9 per job. A monitor polls every
worker's /status and records each partition's committed offset.

Afterwards, through the query API:
  - every search is stored exactly once in cr-searches and in cr-joined, and
    each user's sequence numbers run 0..n-1 without a gap;
  - every left-join row of a user who booked carries that booking;
  - every user is in cr-planner with the start of its first search, or out
    after its booking (a lost state would show a later start);
  - every 10-second window of cr-engagement counts exactly the user's searches
    in it (a replayed or lost input would show in the count);
and committed offsets never moved backwards on any partition.

usage: e2e/crash_replay_e2e.py BUILD_DIR [--events 100000] [--users 500] [--rate 2500]
                               [--json-out FILE]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from usp_e2e import (Checks, LocalPlatform, eventually, http_json, iso, now_ms)  # noqa: E402

PARTITIONS = 6
WINDOW_MS = 10 * 1000  # cr-engagement's sliding window
SLIDE_MS = 5 * 1000
FAILOVER = """  parallelism: 3
  standbyReplicas: 1
  failover:
    probeInterval: 300ms
    failureThreshold: 2
"""

RESOURCES = {
    "searches.yaml": """apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: cr-searches
spec:
  type: simple
  eventSources:
    - kafkaTopic: events.search
  userIdField: /user_id
  eventTimeField: /event_time
  eventIdField: /event_id
  attributes:
    seq: /seq
    destination: /query/destination
  onError: deadLetter
""" + FAILOVER,
    "bookings.yaml": """apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: cr-bookings
spec:
  type: simple
  eventSources:
    - kafkaTopic: events.booking
  userIdField: /user_id
  eventTimeField: /event_time
  eventIdField: /event_id
  attributes:
    seq: /seq
  parallelism: 1
  standbyReplicas: 1
""",
    "joined.yaml": """apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: cr-joined
spec:
  type: left_join
  leftEventSource:
    kafkaTopic: events.search
    joinKeyField: /user_id
  rightEventSource:
    kafkaTopic: events.booking
    joinKeyField: /user_id
  joinWindow: 2h
  userIdField: /left/user_id
  eventTimeField: /left/event_time
  eventIdField: /left/event_id
  attributes:
    seq: /left/seq
    booked: /right/seq
""" + FAILOVER,
    "planner.yaml": """apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata:
  name: cr-planner
spec:
  enter: {signals: [cr-searches]}
  exit: {signals: [cr-bookings]}
  expireAfter: 14d
""" + FAILOVER,
    "engagement.yaml": """apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata:
  name: cr-engagement
spec:
  signals: [cr-searches]
  window: {type: sliding, size: 10s, slide: 5s}
  aggregations:
    - {name: events, fn: count}
  allowedLateness: 1m
""" + FAILOVER,
}
JOBS = ["cr-searches", "cr-joined", "cr-planner", "cr-engagement"]


class Workload:
    """EVENTS events round-robin over USERS users: user u's k-th event has
    seq k; the last event of every fourth user is a booking, the rest are
    searches. Event times are the wall clock when each event is produced
    (a live stream: windows close as event time moves on, and the sources'
    idle rule closes the last ones after the load)."""

    def __init__(self, events, users):
        self.events = events
        self.users = users
        self.times = {}  # n -> event time
        self.per_user = {}  # user -> number of events
        for n in range(events):
            u = self.user(n)
            self.per_user[u] = self.per_user.get(u, 0) + 1

    def user(self, n):
        return "cr-u%d" % (n % self.users)

    def booked(self, user):
        return int(user[4:]) % 4 == 0

    def event(self, n):
        user = self.user(n)
        seq = n // self.users
        t = self.times[n] = now_ms()
        if self.booked(user) and seq == self.per_user[user] - 1:
            return "events.booking", {"event_id": "cr-b-%d" % n, "user_id": user, "seq": seq,
                                      "event_time": iso(t), "status": "confirmed"}
        return "events.search", {"event_id": "cr-s-%d" % n, "user_id": user, "seq": seq,
                                 "event_time": iso(t), "event_type": "search",
                                 "query": {"destination": "City%d" % (n % 40)}}

    def searches(self, user):
        """[(seq, event time)] of the user's searches."""
        u = int(user[4:])
        out = []
        for seq in range(self.per_user[user]):
            if self.booked(user) and seq == self.per_user[user] - 1:
                continue
            n = seq * self.users + u
            out.append((seq, self.times[n]))
        return out

    def booking_seq(self, user):
        return self.per_user[user] - 1 if self.booked(user) else None

    def windows(self, user):
        """{(window_start, window_end): count} of sliding WINDOW/SLIDE windows."""
        counts = {}
        for _, t in self.searches(user):
            first = t // SLIDE_MS * SLIDE_MS
            for k in range(WINDOW_MS // SLIDE_MS):
                start = first - k * SLIDE_MS
                key = (start, start + WINDOW_MS)
                counts[key] = counts.get(key, 0) + 1
        return counts


class PacedKcat:
    """Lines `key<TAB>json` into one topic through a long-running kcat, with
    at most 5 produce requests in flight.

    Why (the CI stall of this test): the embedded broker is librdkafka's mock
    cluster in `uspctl local`, one thread serving every connection, which
    reads one request per connection per poll round. With kcat's defaults
    (linger.ms=5, up to 1,000,000 requests in flight) 2,000 events/s become
    ~200 small ProduceRequests/s pipelined on one connection. When that
    thread is short of CPU (2 cores, ~20 workers replaying after kill -9s)
    they pile up unread in its socket buffer (megabytes, measured with
    `ss`); once the oldest is older than socket.timeout.ms (60 s) kcat drops
    the connection, sees "1/1 brokers are down" and exits ("terminating")
    with events undelivered. With 5 requests in flight the backlog stays in
    kcat's queue, where it turns into larger batches (fewer requests for the
    broker to read) instead of timing out on the wire."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
             "-X", "linger.ms=20", "-X", "max.in.flight.requests.per.connection=5"],
            stdin=subprocess.PIPE, text=True)

    def send(self, key, event):
        self.proc.stdin.write(key + "\t" + json.dumps(event, separators=(",", ":")) + "\n")

    def close(self, timeout=600):
        """Closes kcat's input and waits until it has delivered everything
        (progress every 30 s); its exit status (0: all delivered)."""
        self.proc.stdin.close()
        start = time.time()
        while True:
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                waited = time.time() - start
                if waited >= timeout:
                    self.proc.kill()
                    self.proc.wait()
                    raise RuntimeError("kcat into %s still delivering after %.0f s" %
                                       (self.topic, waited))
                print("# kcat into %s still delivering after %.0f s" % (self.topic, waited),
                      flush=True)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class OffsetMonitor(threading.Thread):
    """Polls every worker's /status; keeps each (job, topic, partition)'s
    committed offsets in the order observed and notes any step backwards."""

    def __init__(self, platform):
        super().__init__(daemon=True)
        self.platform = platform
        self.stop_flag = threading.Event()
        self.last = {}
        self.backwards = []
        self.samples = 0

    def run(self):
        while not self.stop_flag.is_set():
            for job in JOBS + ["cr-bookings"]:
                for p in self.platform.workers_of(job):
                    st = self.platform.worker_status(p["port"], timeout=1) if p.get("port") else None
                    if not st:
                        continue
                    for topic, parts in st.get("committed", {}).items():
                        for part, off in parts.items():
                            key = (job, topic, int(part))
                            prev = self.last.get(key)
                            if prev is not None and off < prev[0]:
                                self.backwards.append((key, prev, (off, p["worker"])))
                            if prev is None or off >= prev[0]:
                                self.last[key] = (off, p["worker"])
                            self.samples += 1
            time.sleep(0.1)

    def stop(self):
        self.stop_flag.set()
        self.join()


def settle(fn, remaining, timeout, stall=90, interval=3):
    """fn() until remaining(result) is 0, or it has not dropped for `stall`
    seconds, or `timeout` seconds pass; the last result. The jobs catch up at
    their own pace on a loaded machine: waiting on progress, not a clock."""
    end = time.time() + timeout
    best = None
    best_at = time.time()
    while True:
        result = fn()
        left = remaining(result)
        if left == 0 or time.time() > end:
            return result
        if best is None or left < best:
            best, best_at = left, time.time()
        elif time.time() - best_at > stall:
            return result
        time.sleep(interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--rate", type=float, default=2500, help="events/s produced")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--settle-timeout", type=float, default=900,
                    help="seconds to wait for the jobs to catch up after the last event")
    ap.add_argument("--json-out", help="write the figures here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    checks = Checks()
    work = Workload(args.events, args.users)
    plat = LocalPlatform(args.build_dir, RESOURCES, PARTITIONS, prefix="usp-crash-")
    monitor = None
    producers = {}
    try:
        if not checks.check("uspctl local starts every job", plat.wait_started()):
            return 1
        settled = eventually(120, lambda: all(plat.settled(j, 3) for j in JOBS), interval=0.3)
        if not checks.check("each job under test has 3 actives over partitions 0-5 and a warm "
                            "standby", settled):
            return 1
        monitor = OffsetMonitor(plat)
        monitor.start()
        producers = {t: PacedKcat(plat.bootstrap, t) for t in ("events.search",
                                                                 "events.booking")}
        kills = {j: 0 for j in JOBS}
        kill_log = []
        thresholds = [args.events * k // 10 for k in range(1, 10)]
        start = time.time()
        n = 0
        while n < args.events:
            due = min(args.events, int((time.time() - start) * args.rate) + 1)
            while n < due:
                topic, event = work.event(n)
                producers[topic].send(event["user_id"], event)
                n += 1
                if thresholds and n >= thresholds[0]:
                    thresholds.pop(0)
                    for p in producers.values():
                        p.proc.stdin.flush()
                    for job in JOBS:
                        victims = plat.workers_of(job)
                        if not victims:
                            continue
                        v = rng.choice(victims)
                        if plat.kill(v["pid"]):
                            kills[job] += 1
                            kill_log.append({"at_event": n, "job": job, "worker": v["worker"],
                                             "t": now_ms()})
            for p in producers.values():
                p.proc.stdin.flush()
            time.sleep(0.01)
        produce_s = time.time() - start
        delivered = {t: p.close() for t, p in producers.items()}
        print("# kcat delivered everything %.1f s after the last event" %
              (time.time() - start - produce_s), flush=True)
        if not checks.check("kcat delivered every event (exit status per topic: %s)" %
                            json.dumps(delivered), all(rc == 0 for rc in delivered.values())):
            return checks.summary()
        print("# produced %d events in %.1f s; kills per job %s" %
              (args.events, produce_s, json.dumps(kills)), flush=True)
        checks.check("at least 9 kill -9s of each job's workers under load (%s)" %
                     json.dumps(kills), all(k >= 9 for k in kills.values()))

        users = sorted(work.per_user)
        api = plat.api

        def signal_rows(user, signal):
            body = http_json("%s/v1/users/%s/signals?types=%s&limit=10000" % (api, user, signal),
                             timeout=10)
            return body["signals"]

        def check_signal(signal, extra=None):
            """(missing, duplicate, gaps, wrong) over every user."""
            missing = dup = gaps = wrong = 0
            for user in users:
                want = {("cr-s-%d" % (seq * args.users + int(user[4:]))): seq
                        for seq, _ in work.searches(user)}
                rows = signal_rows(user, signal)
                ids = [r["event_id"] for r in rows]
                dup += len(ids) - len(set(ids))
                missing += len(set(want) - set(ids))
                seqs = sorted(r["attributes"].get("seq") for r in rows)
                if seqs != sorted(want.values()):
                    gaps += 1
                if extra:
                    wrong += sum(1 for r in rows if not extra(user, r))
            return missing, dup, gaps, wrong

        total_searches = sum(len(work.searches(u)) for u in users)
        result = settle(lambda: check_signal("cr-searches"), lambda m: m[0], args.settle_timeout)
        checks.check("cr-searches: all %d searches stored exactly once, per-user sequences "
                     "without gaps (missing %d, duplicates %d, users with gaps %d)" %
                     ((total_searches,) + result[:3]), result[:3] == (0, 0, 0))

        def joined_ok(user, row):
            return row["attributes"].get("booked") == work.booking_seq(user)

        result = settle(lambda: check_signal("cr-joined", joined_ok), lambda m: m[0] + m[3],
                        args.settle_timeout)
        checks.check("cr-joined: every search joined exactly once, sequences without gaps, "
                     "every row of a user who booked carries the booking (missing %d, "
                     "duplicates %d, users with gaps %d, rows without their booking %d)" % result,
                     result == (0, 0, 0, 0))

        def segment_mismatches():
            bad = []
            for user in users:
                body = http_json("%s/v1/users/%s/segments?segments=cr-planner" % (api, user))
                segs = body["segments"]
                first = work.searches(user)[0][1]
                if work.booked(user):
                    ok = len(segs) == 1 and not segs[0]["in_segment"] and segs[0]["start"] == first
                else:
                    ok = len(segs) == 1 and segs[0]["in_segment"] and segs[0]["start"] == first
                if not ok:
                    bad.append((user, segs))
            return bad

        bad = settle(segment_mismatches, len, args.settle_timeout)
        checks.check("cr-planner: every user in with its first search as start, or out after "
                     "its booking (%d wrong)" % len(bad), not bad, bad[:2])

        def window_mismatches():
            wrong = missing = 0
            sample = []
            for user in users:
                want = work.windows(user)
                body = http_json("%s/v1/users/%s/sessions?job=cr-engagement&limit=10000" %
                                 (api, user), timeout=10)
                got = {(w["window_start"], w["window_end"]): w["aggregations"]["events"]
                       for w in body["sessions"]}
                for key, count in want.items():
                    if key not in got:
                        missing += 1
                    elif got[key] != count:
                        wrong += 1
                        if len(sample) < 3:
                            sample.append((user, key, got[key], count))
            return missing, wrong, sample

        # The last windows close once the idle sources' watermark passes them.
        w = settle(window_mismatches, lambda m: m[0] + m[1], args.settle_timeout, stall=120)
        windows = sum(len(work.windows(u)) for u in users)
        checks.check("cr-engagement: all %d windows stored, each counting exactly the user's "
                     "searches in it (missing %d, wrong count %d)" % (windows, w[0], w[1]),
                     w[:2] == (0, 0), w[2])

        monitor.stop()
        print("# every check settled %.0f s after the last event" % (time.time() - start - produce_s),
              flush=True)
        checks.check("committed offsets never moved backwards (%d samples over %d partitions)"
                     % (monitor.samples, len(monitor.last)),
                     not monitor.backwards and monitor.samples > 0, monitor.backwards[:3])
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"events": args.events, "kills": kills, "kill_log": kill_log,
                           "produce_s": produce_s, "searches": total_searches,
                           "windows": windows, "lost": 0 if checks.failed == 0 else None,
                           "offset_samples": monitor.samples}, f, indent=2)
    except Exception as e:  # a stuck producer or broker: fail with the logs
        checks.check("the run completed without an error (%s: %s)" % (type(e).__name__, e), False)
    finally:
        for p in producers.values():
            p.kill()  # before the broker goes: its errors would only confuse the logs
        if monitor and monitor.is_alive():
            monitor.stop()
        plat.stop(dump_logs=checks.failed > 0)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
