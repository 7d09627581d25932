"""Shared helpers of the Python end-to-end tests: TAP-like checks, JSON over
HTTP and files, event builders, and a `uspctl local` platform handle (start,
wait for settled assignments, worker pids and /status, log tails on failure).

Used by crash_replay_e2e.py; the older scripts (failover_e2e.py,
stateful_local_e2e.py, operator_failover_e2e.py) still carry their own
copies of the first few helpers.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


class Checks:
    """ok / not ok lines and a final count."""

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

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


def now_ms():
    return int(time.time() * 1000)


def iso(ms):
    """RFC 3339 UTC with milliseconds, as the examples' events carry it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def percentile(values, q):
    """Nearest-rank percentile; None for no values."""
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


def eventually(timeout, fn, interval=0.2):
    """fn() until it returns something truthy or `timeout` seconds pass; its last value."""
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(interval)


class LocalPlatform:
    """`uspctl local` over a directory of resources, in a temporary work dir."""

    def __init__(self, build_dir, resources, partitions, prefix="usp-e2e-", extra_args=()):
        """resources: {file name: YAML text}."""
        self.build = os.path.abspath(build_dir)
        self.uspctl = os.path.join(self.build, "cli", "uspctl")
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.state = os.path.join(self.work, "state")
        self.resources = os.path.join(self.work, "resources")
        self.partitions = partitions
        os.makedirs(self.resources)
        for name, text in resources.items():
            with open(os.path.join(self.resources, name), "w") as f:
                f.write(text)
        self.out = open(os.path.join(self.work, "uspctl.out"), "w")
        self.proc = subprocess.Popen(
            [self.uspctl, "local", "--resources", self.resources, "--query-port", "0",
             "--partitions", str(partitions), "--state-dir", self.state, *extra_args],
            stdout=self.out, stderr=subprocess.STDOUT)
        self.endpoints = None

    def wait_started(self, timeout=120):
        """endpoints.json written (every process started); False if uspctl exited or timed out."""
        path = os.path.join(self.state, "endpoints.json")
        end = time.time() + timeout
        while not os.path.exists(path) and self.proc.poll() is None and time.time() < end:
            time.sleep(0.1)
        self.endpoints = read_json(path)
        return self.endpoints is not None

    @property
    def api(self):
        return self.endpoints["query_url"]

    @property
    def bootstrap(self):
        return self.endpoints["kafka_bootstrap"]

    def job_state(self, job):
        doc = read_json(os.path.join(self.state, "assignments.json")) or {"jobs": []}
        for j in doc["jobs"]:
            if j["job"] == job:
                return j
        return None

    def settled(self, job, actives, warm_standbys=1):
        """The job's assignment when `actives` workers own every partition once
        and `warm_standbys` standbys are warm; None otherwise."""
        j = self.job_state(job)
        if not j:
            return None
        workers = j["assignment"]["workers"]
        act = [w for w in workers if w["role"] == "active"]
        warm = [w for w in workers if w["role"] == "standby" and w["warm"]]
        owned = sorted(p for w in act for p in w["partitions"])
        if len(act) == actives and len(warm) >= warm_standbys and \
                owned == list(range(self.partitions)):
            return j
        return None

    def processes(self):
        return (read_json(os.path.join(self.state, "processes.json")) or
                {"processes": []})["processes"]

    def workers_of(self, job):
        """[{worker, pid, port}] of the job's running worker processes."""
        return [p for p in self.processes() if p.get("job") == job and p.get("pid")]

    def worker_status(self, port, timeout=2):
        try:
            return http_json("http://127.0.0.1:%d/status" % port, timeout=timeout)
        except (OSError, ValueError):
            return None

    def failovers(self):
        path = os.path.join(self.state, "failovers.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def stop(self, dump_logs=False, log_lines=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        if dump_logs:
            with open(os.path.join(self.work, "uspctl.out")) as f:
                print("--- uspctl output (tail)\n" + "".join(f.readlines()[-60:]))
            logs = os.path.join(self.state, "logs")
            for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
                with open(os.path.join(logs, name), errors="replace") as f:
                    print("--- %s (tail)\n%s" % (name, "".join(f.readlines()[-log_lines:])))
        shutil.rmtree(self.work, ignore_errors=True)


class KcatProducer:
    """Lines `key<TAB>json` into one topic through a long-running kcat."""

    def __init__(self, bootstrap, topic):
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", "linger.ms=5"],
            stdin=subprocess.PIPE, text=True)

    def send(self, key, event):
        self.proc.stdin.write(key + "\t" + json.dumps(event, separators=(",", ":")) + "\n")

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)
