#!/usr/bin/env python3
"""usp-operator failover on the Kubernetes API-server double (issue 4).

The double (e2e/apiserver, HTTPS, `--run-pods`: its kubelet runs every pod's
container as a local process on its own loopback IP) runs one usp-operator
and, through it, a UserSignal with parallelism 2 and 1 standby on an
8-partition topic of the embedded broker (`uspctl broker`), while kcat
produces a steady stream of events. Driven with the real kubectl:

  1. the workers start as standbys; status.assignment shows 2 actives with 4
     partitions each and 1 healthy, warm standby;
  2. `kill -9` the process of an active worker pod (its pid is the pod's
     containerID, process://PID);
  3. `kubectl delete pod` another active (graceful: its partitions are
     revoked, drained and committed before they move).

After each: the partitions moved to the warm standby (status.assignment),
status.lastFailover names the pod, its partitions and the detection and
handover durations, a `Failover` Warning Event exists, a replacement pod
comes up and becomes the new warm standby. Throughout, an observer polls the
status and every worker's GET /status: no partition is owned twice at any
epoch. At the end every produced event is on the output topic (duplicates
allowed: storage dedupes) and the operator's /metrics count both failovers.

usage: e2e/operator_failover_e2e.py BUILD_DIR [--rate 100] [--keep]
Ends with `N passed, M failed`; exit 1 on a failure.
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITIONS = 8
JOB = "searches"
NS = "default"
SOURCE, OUTPUT, DLQ = "events.search", "usp.signal.searches", "usp.dlq.searches"

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


def now_ms():
    return int(time.time() * 1000)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, cond, detail=""):
        if cond:
            print("ok - " + what, flush=True)
            self.passed += 1
        else:
            print("not ok - " + what + (": " + detail if detail else ""), flush=True)
            self.failed += 1
        return cond


def eventually(timeout_s, fn, interval=0.2):
    """Polls fn until it returns a truthy value (returned) or the time is up (None)."""
    deadline = time.time() + timeout_s
    while True:
        try:
            v = fn()
        except Exception:  # noqa: BLE001 - polling through transient errors
            v = None
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


class Cluster:
    """kubectl against the double, plus direct API reads for frequent polling."""

    def __init__(self, kubeconfig):
        self.env = dict(os.environ, KUBECONFIG=kubeconfig)
        self.server = self.kubectl("config", "view", "--raw", "-o",
                                   "jsonpath={.clusters[0].cluster.server}").strip()
        self.token = self.kubectl("config", "view", "--raw", "-o",
                                  "jsonpath={.users[0].user.token}").strip()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def kubectl(self, *args, stdin=None, check=True):
        r = subprocess.run(["kubectl", *args], input=stdin, env=self.env, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("kubectl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def get(self, path):
        req = urllib.request.Request(self.server + path,
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, context=self.ctx, timeout=5) as r:
            return json.load(r)

    def signal(self):
        return self.get("/apis/usp.dev/v1alpha1/namespaces/%s/usersignals/%s" % (NS, JOB))

    def pods(self):
        return self.get("/api/v1/namespaces/%s/pods?labelSelector=usp.dev/job%%3D%s" % (NS, JOB))["items"]


def worker_status(ip, timeout=0.5):
    with urllib.request.urlopen("http://%s:8081/status" % ip, timeout=timeout) as r:
        return json.load(r)


class Observer(threading.Thread):
    """Polls status.assignment and every worker's /status; records violations of
    "no partition is owned twice at any epoch"."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.epochs = {}        # status epoch -> {worker: partitions} of actives
        self.violations = []
        self.rounds = 0
        self.worker_rounds = 0

    def run(self):
        while not self.stop_flag.wait(0.25):
            try:
                self.observe_status()
                self.observe_workers()
            except Exception:  # noqa: BLE001 - the API or a worker may be mid-change
                pass

    def observe_status(self):
        a = (self.cluster.signal().get("status") or {}).get("assignment")
        if not a:
            return
        actives = {w["name"]: tuple(w.get("partitions") or []) for w in a.get("workers", [])
                   if w.get("role") == "active"}
        epoch = a.get("epoch")
        with self.lock:
            self.rounds += 1
            seen = {}
            for w, ps in actives.items():
                for p in ps:
                    if p in seen:
                        self.violations.append("status epoch %s: partition %d owned by %s and %s"
                                               % (epoch, p, seen[p], w))
                    seen[p] = w
            if epoch in self.epochs and self.epochs[epoch] != actives:
                self.violations.append("status epoch %s shown with two assignments: %s / %s"
                                       % (epoch, self.epochs[epoch], actives))
            self.epochs.setdefault(epoch, actives)

    def observe_workers(self):
        by_epoch = {}
        for pod in self.cluster.pods():
            ip = (pod.get("status") or {}).get("podIP")
            if not ip or pod["status"].get("phase") != "Running":
                continue
            try:
                st = worker_status(ip)
            except Exception:  # noqa: BLE001 - dead or not listening yet
                continue
            by_epoch.setdefault(st.get("epoch"), []).append((pod["metadata"]["name"],
                                                             st.get("partitions") or []))
        with self.lock:
            self.worker_rounds += 1
            for epoch, workers in by_epoch.items():
                seen = {}
                for name, ps in workers:
                    for p in ps:
                        if p in seen and epoch:
                            self.violations.append("workers at epoch %s: partition %d owned by %s and %s"
                                                   % (epoch, p, seen[p], name))
                        seen[p] = name


class Producer(threading.Thread):
    """A steady stream of search events through kcat; remembers every event id."""

    def __init__(self, bootstrap, rate):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", SOURCE, "-K", "\t",
                                      "-X", "linger.ms=5"], stdin=subprocess.PIPE, text=True)
        self.rate = rate
        self.sent = []
        self.stop_flag = threading.Event()

    def run(self):
        start = time.time()
        n = 0
        while not self.stop_flag.is_set():
            due = int((time.time() - start) * self.rate)
            while n < due:
                user = "op-user-%d" % (n % 97)
                eid = "op-%d" % n
                t = now_ms()
                event = {"event_id": eid, "user_id": user,
                         "event_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000))
                         + ".%03dZ" % (t % 1000),
                         "query": {"destination": "City%d" % (n % 50)}}
                self.proc.stdin.write(user + "\t" + json.dumps(event) + "\n")
                self.sent.append(eid)
                n += 1
            self.proc.stdin.flush()
            time.sleep(0.02)

    def stop(self):
        self.stop_flag.set()
        self.join()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def output_event_ids(bootstrap):
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", OUTPUT, "-o", "beginning", "-e", "-q",
                        "-f", "%s\n"], capture_output=True, text=True, timeout=60)
    ids = []
    for line in r.stdout.splitlines():
        try:
            ids.append(json.loads(line)["event_id"])
        except (ValueError, KeyError, TypeError):
            pass
    return ids


def assignment(cluster):
    return (cluster.signal().get("status") or {}).get("assignment") or {}


def actives_of(a):
    return {w["name"]: w.get("partitions") or [] for w in a.get("workers", []) if w.get("role") == "active"}


def standbys_of(a, warm=True):
    return [w["name"] for w in a.get("workers", [])
            if w.get("role") == "standby" and w.get("healthy") and (w.get("warm") or not warm)]


def steady(a):
    """2 actives covering every partition, one healthy warm standby, nothing waiting, and
    no other worker listed: the state the job returns to after each failover."""
    acts = actives_of(a)
    owned = sorted(p for ps in acts.values() for p in ps)
    return (len(acts) == 2 and owned == list(range(PARTITIONS)) and len(standbys_of(a)) == 1
            and len(a.get("workers", [])) == 3 and not a.get("unassigned"))


def failover_events(cluster, pod):
    out = cluster.kubectl("get", "events", "--field-selector",
                          "involvedObject.name=%s,reason=Failover" % JOB, "-o", "json")
    # "pod P failed ...": the failover of P, not one that moved partitions to P
    return [e for e in json.loads(out)["items"] if e.get("message", "").startswith("pod %s failed" % pod)]


def metric(url, name):
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            key, _, value = line.rpartition(" ")
            if key == name:
                return float(value)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--rate", type=int, default=100, help="events/s")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    operator = os.path.join(build, "operator", "usp-operator")
    runtime = os.path.join(build, "runtime", "usp-runtime")
    uspctl = os.path.join(build, "cli", "uspctl")
    c = Checks()
    for path in (operator, runtime, uspctl):
        if not os.access(path, os.X_OK):
            print("not ok - %s is not built" % path)
            print("0 passed, 1 failed")
            return 1
    for tool in ("kubectl", "kcat"):
        if shutil.which(tool) is None:
            print("not ok - %s is not installed" % tool)
            print("0 passed, 1 failed")
            return 1

    # Not under /tmp: the double rewrites paths under a volume's mountPath,
    # and worker pods mount an emptyDir at /tmp.
    work = tempfile.mkdtemp(prefix="operator-failover-e2e.", dir=os.environ.get("USP_E2E_WORKDIR", build))
    procs = {}
    observer = None
    producer = None
    cluster = None
    try:
        # --- Kafka, the double, the operator -------------------------------------------
        topics = []
        for t in (SOURCE, OUTPUT, DLQ):
            topics += ["--topic", t]
        procs["broker"] = subprocess.Popen(
            [uspctl, "broker", *topics, "--partitions", str(PARTITIONS),
             "--bootstrap-file", os.path.join(work, "bootstrap")],
            stdout=open(os.path.join(work, "broker.log"), "w"), stderr=subprocess.STDOUT)
        if not c.check("uspctl broker starts", eventually(20, lambda: os.path.getsize(os.path.join(work, "bootstrap")))):
            return 1
        bootstrap = open(os.path.join(work, "bootstrap")).read().strip()
        kubeconfig = os.path.join(work, "kubeconfig")
        procs["double"] = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "e2e", "apiserver", "apiserver.py"), "--port", "0",
             "--port-file", os.path.join(work, "double.port"), "--kubeconfig-out", kubeconfig,
             "--run-pods", "--pod-dir", os.path.join(work, "pods")],
            stdout=open(os.path.join(work, "double.log"), "w"), stderr=subprocess.STDOUT)
        if not c.check("the API-server double starts",
                       eventually(30, lambda: os.path.exists(os.path.join(work, "double.port")))):
            return 1
        cluster = Cluster(kubeconfig)
        cluster.kubectl("apply", "-f", os.path.join(ROOT, "crds"))
        c.check("kubectl apply -f crds/; UserSignals are served",
                eventually(20, lambda: cluster.kubectl("get", "usersignals", check=False) is not None))
        port_file = os.path.join(work, "op.port")
        procs["operator"] = subprocess.Popen(
            [operator, "--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-identity", "op-e2e",
             "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s",
             "--http-address", "127.0.0.1", "--http-port", "0", "--port-file", port_file,
             "--kafka-bootstrap", bootstrap, "--worker-command", runtime, "--worker-image", "usp:e2e",
             "--kafka-partitions", str(PARTITIONS), "--log-level", "info"],
            stdout=open(os.path.join(work, "operator.log"), "w"), stderr=subprocess.STDOUT)
        c.check("the operator leads", eventually(20, lambda: "op-e2e" in cluster.kubectl(
            "get", "lease", "usp-operator", "-o", "jsonpath={.spec.holderIdentity}", check=False)))
        op_url = "http://127.0.0.1:" + open(port_file).read().strip()

        # --- the job ----------------------------------------------------------------------------
        cluster.kubectl("apply", "-f", "-", stdin=RESOURCE)
        dep = eventually(30, lambda: json.loads(cluster.kubectl("get", "deployment", "usp-" + JOB, "-o", "json",
                                                                check=False) or "null"))
        c.check("Deployment usp-searches runs 3 workers started with --partitions=none",
                dep and dep["spec"]["replicas"] == 3
                and "--partitions=none" in dep["spec"]["template"]["spec"]["containers"][0]["args"])
        producer = Producer(bootstrap, args.rate)
        producer.start()
        observer = Observer(cluster)
        observer.start()
        a = eventually(90, lambda: (lambda x: x if steady(x) else None)(assignment(cluster)), interval=0.5)
        c.check("status.assignment: 2 actives with 4 partitions each and 1 warm standby",
                a and sorted(len(p) for p in actives_of(a).values()) == [4, 4],
                json.dumps(assignment(cluster)))
        if not a:
            return 1
        print("#   epoch %d: %s, standby %s" % (a["epoch"], actives_of(a), standbys_of(a)), flush=True)
        st = cluster.signal()["status"]
        c.check("status.replicas.warm is 1 and status.failovers 0",
                st["replicas"]["warm"] == 1 and st.get("failovers") == 0, json.dumps(st["replicas"]))

        results = []

        def failover(victim, how, act):
            """Runs act() to fail `victim` (an active pod); checks the takeover."""
            before = assignment(cluster)
            acts, standby = actives_of(before), standbys_of(before)[0]
            parts = acts[victim]
            survivor = [w for w in acts if w != victim][0]
            count = cluster.signal()["status"].get("failovers", 0)
            t0 = act()
            print("#   %s %s (partitions %s) at %d; warm standby: %s" % (how, victim, parts, t0, standby),
                  flush=True)

            def moved():
                s = cluster.signal()["status"]
                lf = s.get("lastFailover") or {}
                if lf.get("worker") == victim and lf.get("handedOverAt") and s.get("failovers") == count + 1:
                    return s
                return None
            s = eventually(30, moved, interval=0.1)
            if not c.check("%s: status.lastFailover names %s with its partitions" % (how, victim), s,
                           json.dumps(cluster.signal()["status"].get("lastFailover"))):
                return
            lf, a2 = s["lastFailover"], s["assignment"]
            c.check("%s: partitions %s moved to the warm standby %s, the other active kept its own" % (how, parts, standby),
                    actives_of(a2).get(standby) == parts and actives_of(a2).get(survivor) == acts[survivor]
                    and lf["partitions"] == parts and lf["promoted"] == [standby], json.dumps(a2))
            c.check("%s: lastFailover has detection and handover durations" % how,
                    isinstance(lf.get("detectionMs"), int) and isinstance(lf.get("handoverMs"), int)
                    and lf["detectionMs"] >= 0 and lf["handoverMs"] >= 0, json.dumps(lf))
            print("#   %s: cause %r; controller: detection %d ms, handover %d ms; from the %s: detected +%d ms, "
                  "handed over +%d ms" % (how, lf["cause"], lf["detectionMs"], lf["handoverMs"], how,
                                          lf["detectedAt"] - t0, lf["handedOverAt"] - t0), flush=True)
            results.append((how, lf, t0))
            ev = eventually(20, lambda: failover_events(cluster, victim))
            c.check("%s: a Warning Event `Failover` names the pod, partitions, new owner and durations" % how,
                    ev and ev[0]["type"] == "Warning" and standby in ev[0]["message"]
                    and "detection" in ev[0]["message"] and "handover" in ev[0]["message"],
                    json.dumps(ev))
            if ev:
                print("#   event: %s" % ev[0]["message"], flush=True)

            def replaced():
                x = assignment(cluster)
                names = [w["name"] for w in x.get("workers", [])]
                new = [n for n in standbys_of(x) if n not in (victim, standby, survivor)]
                return x if steady(x) and victim not in names and new else None
            x = eventually(90, replaced, interval=0.5)
            c.check("%s: a replacement pod came up as the new warm standby" % how, x, json.dumps(assignment(cluster)))
            if x:
                print("#   now: epoch %d: %s, standby %s" % (x["epoch"], actives_of(x), standbys_of(x)), flush=True)

        # (a) kill -9 the process of an active worker pod.
        a = assignment(cluster)
        victim = sorted(actives_of(a))[0]
        pod = json.loads(cluster.kubectl("get", "pod", victim, "-o", "json"))
        cid = pod["status"]["containerStatuses"][0].get("containerID", "")
        pid = int(cid.split("://", 1)[1]) if cid.startswith("process://") else 0
        cmdline = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0") if pid else []
        c.check("the pod's containerID process://%d is its usp-runtime worker" % pid,
                pid and cmdline and cmdline[0].endswith(b"usp-runtime") and cmdline[1] == b"worker")

        def kill():
            t = now_ms()
            os.kill(pid, signal.SIGKILL)
            return t
        failover(victim, "kill -9", kill)

        # (b) kubectl delete pod another active (graceful).
        a = assignment(cluster)
        victim = sorted(actives_of(a))[0]

        def delete():
            t = now_ms()
            cluster.kubectl("delete", "pod", victim, "--wait=false")
            return t
        failover(victim, "kubectl delete pod", delete)
        if results:
            c.check("kubectl delete pod is reported as `pod terminating` (revoked, drained, committed)",
                    results[-1][1]["cause"] == "pod terminating", results[-1][1]["cause"])

        # --- no loss, no double ownership, metrics ------------------------------------
        producer.stop()
        sent = set(producer.sent)
        print("#   produced %d events at %d/s" % (len(sent), args.rate), flush=True)
        missing = None

        def all_out():
            nonlocal missing
            ids = output_event_ids(bootstrap)
            missing = sent - set(ids)
            return ids if not missing else None
        ids = eventually(90, all_out, interval=2)
        c.check("every produced event's record is on %s (no loss)" % OUTPUT, ids,
                "%d missing, e.g. %s" % (len(missing or ()), sorted(missing or ())[:5]))
        if ids:
            print("#   %d records for %d events (%d duplicates, allowed: storage dedupes)"
                  % (len(ids), len(sent), len(ids) - len(set(ids))), flush=True)
        observer.stop_flag.set()
        observer.join()
        c.check("no partition owned twice at any observed epoch (%d status and %d worker observations, epochs %s)"
                % (observer.rounds, observer.worker_rounds, sorted(k for k in observer.epochs if k is not None)),
                not observer.violations and observer.rounds > 0 and observer.worker_rounds > 0,
                "; ".join(observer.violations[:5]))
        labels = '{job="%s",kind="UserSignal"}' % JOB
        c.check("the operator's /metrics: usp_failovers_total 2 and usp_failover_duration_seconds_count 2",
                metric(op_url, "usp_failovers_total" + labels) == 2
                and metric(op_url, "usp_failover_duration_seconds_count" + labels) == 2,
                "%s %s" % (metric(op_url, "usp_failovers_total" + labels),
                           metric(op_url, "usp_failover_duration_seconds_count" + labels)))
        st = cluster.signal()["status"]
        c.check("status.failovers is 2", st.get("failovers") == 2, str(st.get("failovers")))
        # The controller's detection starts at the failure time it knows (for a
        # killed container, finishedAt: one-second precision, taken as late as
        # possible); the kill/delete figures are measured from this script's clock.
        for how, lf, t0 in results:
            print("# failover (%s): controller: detection %d ms, handover %d ms; measured: %s -> detected %d ms, "
                  "-> handed over %d ms" % (how, lf["detectionMs"], lf["handoverMs"], how,
                                            lf["detectedAt"] - t0, lf["handedOverAt"] - t0))
        return 0 if c.failed == 0 else 1
    finally:
        if producer is not None and not producer.stop_flag.is_set():
            producer.stop_flag.set()
        if observer is not None:
            observer.stop_flag.set()
        for name in ("operator", "double", "broker"):
            p = procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if c.failed or args.keep:
            for log in ("operator.log", "double.log", "broker.log"):
                path = os.path.join(work, log)
                if os.path.exists(path):
                    print("--- " + log)
                    print("".join(open(path, errors="replace").readlines()[-30:]))
        print("%d passed, %d failed" % (c.passed, c.failed))
        if args.keep:
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
