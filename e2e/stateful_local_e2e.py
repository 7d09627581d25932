#!/usr/bin/env python3
"""Stateful jobs end to end in local mode (issue 5).

`uspctl local` runs the resources of examples/ (UserSignals incl. a left join, the
active-trip-planner UserSegment and the 10-minute/5-minute sliding
search-engagement SessionJob) plus a `recent-searcher` segment with a
20-second expiry. Events go in with `kcat`; results are read back through the
HTTP API (and the segment topic with `kcat -C` for the timer's record).

  1. Segments: searches put users in active-trip-planner (start = the search's
     event time); a booking takes them out.
  2. Exact expiry: a search at wall-clock now puts a user in recent-searcher;
     the API answers in at `expiration - 1` and out at `expiration`, and the
     timer writes the `expired` record with exactly that expiration.
  3. Session windows: two searches of one user 1 minute apart fall in two
     overlapping 10-minute windows, each counting both.
  4. kill -9 mid-stream: the active workers of the segment and the session
     job are killed while a steady stream flows; their warm standbys take
     over. Afterwards a booking still exits a user who entered before the
     kill (with the start remembered from before it), a new search keeps the
     old start and extends the expiration, and a session window opened before
     the kill counts events from both sides of it.
  5. The left join booked-after-search: a booking joins the earlier search at
     once; a booking without one is stored with null, and a search arriving
     later within the window stores a newer version of the same row.

usage: e2e/stateful_local_e2e.py BUILD_DIR
"""

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITIONS = 4
MINUTE = 60 * 1000

RECENT_SEARCHER = """# Searched within the last 20 seconds (a short expiry to watch the timer).
apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata:
  name: recent-searcher
spec:
  enter: {signals: [searches]}
  expireAfter: 20s
  standbyReplicas: 0
"""


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, cond, detail=None):
        if cond:
            print("ok - " + what, flush=True)
            self.passed += 1
        else:
            print("not ok - " + what + ("" if detail is None else ": " + str(detail)), flush=True)
            self.failed += 1
        return cond


def now_ms():
    return int(time.time() * 1000)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def eventually(timeout, fn, interval=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(interval)


def search(user, t, eid, destination="Lisbon"):
    return {"event_id": eid, "user_id": user, "event_time": iso(t), "event_type": "search",
            "query": {"destination": destination, "checkin": "2027-01-10",
                      "checkout": "2027-01-17", "guests": 2}, "context": {"platform": "web"}}


def booking(user, t, eid):
    return {"event_id": eid, "user_id": user, "event_time": iso(t), "status": "confirmed",
            "listing_id": "l-1", "checkin": "2027-01-10", "checkout": "2027-01-17", "nights": 7,
            "total_price": {"amount": 700, "currency": "EUR"}}


def kcat_produce(bootstrap, topic, events):
    lines = "".join(e["user_id"] + "\t" + json.dumps(e) + "\n" for e in events)
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"], input=lines,
                   text=True, check=True, timeout=60)


class Stream:
    """A steady stream of searches of noise users at one event time, through
    kcat, so every partition keeps moving (and its watermark stays put)."""

    def __init__(self, bootstrap, event_time, rate=100):
        self.proc = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", "events.search",
                                      "-K", "\t", "-X", "linger.ms=5"],
                                     stdin=subprocess.PIPE, text=True)
        self.t = event_time
        self.rate = rate
        self.count = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        start = time.time()
        while not self.stop_flag.is_set():
            due = int((time.time() - start) * self.rate)
            while self.count < due:
                e = search("noise-%d" % (self.count % 200), self.t, "noise-%d" % self.count, "Porto")
                self.proc.stdin.write(e["user_id"] + "\t" + json.dumps(e) + "\n")
                self.count += 1
            self.proc.stdin.flush()
            time.sleep(0.01)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    uspctl = os.path.join(build, "cli", "uspctl")
    c = Checks()
    work = tempfile.mkdtemp(prefix="usp-stateful-")
    resources = os.path.join(work, "resources")
    os.makedirs(resources)
    for name in os.listdir(os.path.join(ROOT, "examples")):
        if name.endswith(".yaml"):
            shutil.copy(os.path.join(ROOT, "examples", name), resources)
    with open(os.path.join(resources, "recent-searcher.yaml"), "w") as f:
        f.write(RECENT_SEARCHER)
    state = os.path.join(work, "state")
    out = open(os.path.join(work, "uspctl.out"), "w")
    local = subprocess.Popen([uspctl, "local", "--resources", resources, "--query-port", "0",
                              "--partitions", str(PARTITIONS), "--state-dir", state],
                             stdout=out, stderr=subprocess.STDOUT)
    stream = None
    try:
        endpoints = os.path.join(state, "endpoints.json")
        eventually(180, lambda: os.path.exists(endpoints) or local.poll() is not None)
        if not c.check("uspctl local runs examples/ with the segment and session jobs",
                       os.path.exists(endpoints)):
            return 1
        ep = read_json(endpoints)
        api, boot = ep["query_url"], ep["kafka_bootstrap"]

        def job(name):
            doc = read_json(os.path.join(state, "assignments.json")) or {"jobs": []}
            return next((j for j in doc["jobs"] if j["job"] == name), None)

        def settled(name):
            j = job(name)
            if not j:
                return None
            ws = j["assignment"]["workers"]
            owned = sorted(p for w in ws if w["role"] == "active" for p in w["partitions"])
            warm = [w for w in ws if w["role"] == "standby" and w["warm"]]
            return j if owned == list(range(PARTITIONS)) and warm else None

        for name in ("active-trip-planner", "search-engagement"):
            c.check("%s: all partitions assigned, a warm standby ready" % name,
                    eventually(60, lambda: settled(name)), job(name))

        def segments(user, at=None):
            q = "" if at is None else "?at=%d" % at
            body = http_json("%s/v1/users/%s/segments%s" % (api, user, q))
            return {s["segment"]: s for s in body["segments"]}

        def sessions(user):
            body = http_json("%s/v1/users/%s/sessions?job=search-engagement&limit=100" % (api, user))
            return {s["window_start"]: s for s in body["sessions"]}

        # A past timeline, aligned to the 5-minute slide.
        base = (now_ms() - 2 * 3600 * 1000) // (5 * MINUTE) * (5 * MINUTE)
        stream = Stream(boot, base + 90 * 1000).start()

        # --- 1. segments, before the kill ----------------------------------------------------
        planners = ["planner-%d" % i for i in range(10)]
        kcat_produce(boot, "events.search",
                     [search(u, base + MINUTE, "p-s1-" + u) for u in planners]
                     + [search("s2-user", base + MINUTE, "s2-1")])
        ok = eventually(30, lambda: all(segments(u).get("active-trip-planner", {}).get("in_segment")
                                        for u in planners))
        c.check("a search puts 10 users in active-trip-planner", ok)
        s = segments(planners[0]).get("active-trip-planner", {})
        c.check("start is the search's event time and expiration 14 days later",
                s.get("start") == base + MINUTE and s.get("expiration") == base + MINUTE + 14 * 1440 * MINUTE, s)

        # --- 2. exact expiry ----------------------------------------------------------------------
        t_enter = now_ms()
        kcat_produce(boot, "events.search", [search("recent", t_enter, "r-1")])
        r = eventually(30, lambda: segments("recent").get("recent-searcher"))
        c.check("recent-searcher: in now, expiration = event time + 20 s",
                r and r["in_segment"] and r["expiration"] == t_enter + 20000, r)

        # --- 3 and 4. kill -9 the active segment and session workers mid-stream --------------
        def pid_of(worker):
            doc = read_json(os.path.join(state, "processes.json")) or {"processes": []}
            return next((p["pid"] for p in doc["processes"] if p.get("worker") == worker), 0)

        killed = {}
        for name in ("active-trip-planner", "search-engagement"):
            j = settled(name)
            active = next(w for w in j["assignment"]["workers"] if w["role"] == "active")
            pid = pid_of(active["name"])
            os.kill(pid, signal.SIGKILL)
            killed[name] = active["name"]
            print("# kill -9 %s (pid %d, partitions %s)" % (active["name"], pid, active["partitions"]),
                  flush=True)

        def moved(name):
            j = job(name)
            if not j:
                return None
            ws = j["assignment"]["workers"]
            owned = sorted(p for w in ws if w["role"] == "active" and w["name"] != killed[name]
                           for p in w["partitions"])
            return j if owned == list(range(PARTITIONS)) else None

        for name in ("active-trip-planner", "search-engagement"):
            c.check("%s: the warm standby took every partition of the killed worker" % name,
                    eventually(30, lambda: moved(name)), job(name))

        # After the kill: bookings exit half the planners, searches extend the others.
        kcat_produce(boot, "events.booking", [booking(u, base + 3 * MINUTE, "p-b-" + u)
                                              for u in planners[:5]])
        kcat_produce(boot, "events.search", [search(u, base + 4 * MINUTE, "p-s2-" + u)
                                             for u in planners[5:]]
                     + [search("s2-user", base + 2 * MINUTE, "s2-2")])

        def after_kill_ok():
            for u in planners[:5]:
                s = segments(u).get("active-trip-planner", {})
                if s.get("in_segment") is not False:
                    return False
            for u in planners[5:]:
                s = segments(u).get("active-trip-planner", {})
                if s.get("expiration") != base + 4 * MINUTE + 14 * 1440 * MINUTE:
                    return False
            return True
        eventually(30, after_kill_ok)
        exited = [segments(u).get("active-trip-planner", {}) for u in planners[:5]]
        c.check("after the kill, a booking exits the 5 users who entered before it",
                all(s.get("in_segment") is False for s in exited), exited)
        c.check("... and their membership still starts at the search before the kill",
                all(s.get("start") == base + MINUTE for s in exited), exited)
        extended = [segments(u).get("active-trip-planner", {}) for u in planners[5:]]
        c.check("after the kill, a new search keeps the old start and extends the expiration",
                all(s.get("in_segment") and s.get("start") == base + MINUTE
                    and s.get("expiration") == base + 4 * MINUTE + 14 * 1440 * MINUTE
                    for s in extended), extended)

        # --- 5. the left join (booked-after-search) -----------------------------------------
        def joined(user):
            body = http_json("%s/v1/users/%s/signals?types=booked-after-search&limit=10" % (api, user))
            return body["signals"]
        rows = eventually(30, lambda: joined(planners[0]))
        c.check("left join: a booking is joined with the user's earlier search at once",
                rows and rows[0]["attributes"].get("searched_destination") == "Lisbon"
                and rows[0]["event_id"] == "p-b-" + planners[0], rows)
        kcat_produce(boot, "events.booking", [booking("no-search-yet", base + 5 * MINUTE, "nsy-b")])
        rows = eventually(30, lambda: joined("no-search-yet"))
        c.check("left join: a booking without a search is stored at once with the right side null",
                rows and rows[0]["attributes"].get("searched_destination") is None, rows)
        first_version = rows[0]["version"] if rows else 0
        kcat_produce(boot, "events.search", [search("no-search-yet", base + 4 * MINUTE, "nsy-s",
                                                    "Madeira")])
        rows = eventually(30, lambda: [r for r in joined("no-search-yet")
                                       if r["attributes"].get("searched_destination") == "Madeira"])
        c.check("left join: a search arriving later within the window stores a newer version of "
                "the same row (one row, same event id, newer version)",
                rows and len(joined("no-search-yet")) == 1 and rows[0]["event_id"] == "nsy-b"
                and rows[0]["version"] > first_version, joined("no-search-yet"))

        # Close the windows: a burst far later on every partition.
        stream.stop()
        stream = None
        kcat_produce(boot, "events.search", [search("tick-%d" % i, base + 30 * MINUTE, "tick-%d" % i)
                                             for i in range(200)])

        def windows_ok():
            w = sessions("s2-user")
            a, b = w.get(base - 5 * MINUTE), w.get(base)
            return w if a and b and a["aggregations"].get("events") == 2 \
                and b["aggregations"].get("events") == 2 else None
        w = eventually(60, windows_ok)
        w = w or sessions("s2-user")
        c.check("a session window opened before the kill counts events from both sides of it: "
                "[base-5m, base+5m) and [base, base+10m) each count 2",
                w and windows_ok(), json.dumps(w)[:800])
        one = w.get(base) if w else None
        c.check("the window's bounds are aligned to the slide and 10 minutes long",
                one is not None and one["window_end"] == base + 10 * MINUTE, one)
        c.check("top_k names the destination",
                one is not None and one["aggregations"].get("top_destinations") is not None, one)

        # --- 2 (end). the expiry timer --------------------------------------------------------
        wait = (t_enter + 20000) - now_ms() + 1500
        if wait > 0:
            time.sleep(wait / 1000)
        r_now = segments("recent").get("recent-searcher")
        c.check("recent-searcher: out once the wall clock passes the expiration",
                r_now and not r_now["in_segment"], r_now)
        before = segments("recent", at=t_enter + 19999).get("recent-searcher")
        at = segments("recent", at=t_enter + 20000).get("recent-searcher")
        c.check("?at= answers in 1 ms before the expiration and out at it",
                before and before["in_segment"] and at and not at["in_segment"], (before, at))
        topic = "usp.segment.recent-searcher"
        out_records = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-e", "-q",
                                      "-f", "%s\\n"], capture_output=True, text=True, timeout=60)
        recs = [json.loads(line) for line in out_records.stdout.splitlines() if line.strip()]
        expired = [x for x in recs if x.get("user_id") == "recent" and x.get("reason") == "expired"]
        c.check("the timer wrote the `expired` record with the exact expiration (no sweep)",
                expired and expired[0]["expiration"] == t_enter + 20000 and not expired[0]["in_segment"],
                [x for x in recs if x.get("user_id") == "recent"])
        if expired:
            print("# expired record written %d ms after the expiration" %
                  (expired[0]["version"] - (t_enter + 20000)), flush=True)

        profile = http_json("%s/v1/users/%s/profile" % (api, planners[5]))
        c.check("/profile returns signals, segments and sessions in one read",
                profile.get("signals") and profile.get("segments") and "sessions" in profile,
                json.dumps(profile)[:400])
    finally:
        if stream:
            stream.stop()
        local.send_signal(signal.SIGINT)
        try:
            local.wait(timeout=60)
        except subprocess.TimeoutExpired:
            local.kill()
        out.close()
        if c.failed:
            with open(os.path.join(work, "uspctl.out")) as f:
                print("--- uspctl.out (tail)\n" + "".join(f.readlines()[-40:]))
            logs = os.path.join(state, "logs")
            for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
                if "planner" in name or "engagement" in name or "serve" in name:
                    with open(os.path.join(logs, name)) as f:
                        tail = f.readlines()[-8:]
                    print("--- %s\n%s" % (name, "".join(tail)))
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
