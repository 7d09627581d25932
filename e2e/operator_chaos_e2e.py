#!/usr/bin/env python3
"""usp-operator under control-plane faults on the Kubernetes API-server double (issue 8, part 3).

The double (e2e/apiserver, HTTPS, `--run-pods`: real `usp-runtime worker` pods
as local processes) and the embedded broker (`uspctl broker`) run several
UserSignals, applied and changed with the real kubectl, while:

  1. operator killed mid-reconcile: every write of the operator is slowed
     down (the double's `delay_next`), and the operator is `kill -9`ed right
     after its K-th write (K random; the double's request log), restarted,
     killed again, --kills times, while resources are created, scaled and
     deleted between the kills;
  2. API 500s on writes: the double answers 500 to the operator's creates
     (some of them *after* storing the object, as a server whose answer timed
     out), updates, finalizer updates and status updates while a new
     resource is created and another one scaled.

After each phase, once the faults stop: exactly one Deployment and one
ConfigMap per resource, controlled by it (ownerReference with its uid), no
orphans, the deleted resource gone (no finalizer stuck), the query catalog
listing exactly the live resources, every status at its resource's
generation (observedGeneration), Ready=True, with the expected replicas and
an assignment covering every partition once; throughout, an observer checks
that no partition is owned twice at any epoch (status.assignment and every
worker's GET /status). The 500s are retried with backoff, logged, and
counted (usp_operator_reconcile_total{result="error"}).

usage: e2e/operator_chaos_e2e.py BUILD_DIR [--kills 10] [--seed N] [--keep]
Ends with `N passed, M failed`; exit 1 on a failure.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from operator_failover_e2e import Checks, Cluster, eventually, metric, worker_status  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITIONS = 4
NS = "default"
SOURCE = "events.chaos"
IDENTITY = "op-chaos"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# name -> (parallelism, standbyReplicas) at the start.
JOBS = {"alpha": (2, 1), "bravo": (1, 0), "charlie": (1, 1), "delta": (1, 0)}


def resource(name, parallelism, standbys):
    return """apiVersion: usp.dev/v1alpha1
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
    destination: /query/destination
  onError: deadLetter
  parallelism: %d
  standbyReplicas: %d
  failover:
    probeInterval: 500ms
    failureThreshold: 2
""" % (name, SOURCE, parallelism, standbys)


class Double(Cluster):
    """Cluster plus the double's control endpoints."""

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.load(r)

    def faults(self, body):
        return self.control("/_double/faults", body)

    def operator_writes(self, since):
        """The operator's writes logged since `since` (Lease renewals and Events excluded)."""
        out = self.control("/_double/requests?since=%d" % since)
        return [e for e in out["requests"] if e["method"] in WRITES and e["agent"].startswith("usp-operator")
                and e["resource"] not in ("leases", "events")]

    def next_seq(self):
        return self.control("/_double/requests?since=999999999")["next"]

    def items(self, path):
        return self.get(path)["items"]


class Observer(threading.Thread):
    """Polls every job's status.assignment and its workers' /status: records any
    partition owned by two workers at one epoch, and any epoch shown with two
    different assignments."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop_flag = threading.Event()
        self.epochs = {}  # (job, epoch) -> actives
        self.max_epoch = {}  # job -> newest status epoch seen
        self.failovers = {}  # job -> largest status.failovers seen
        self.violations = []
        self.rounds = 0
        self.worker_rounds = 0

    def run(self):
        while not self.stop_flag.wait(0.3):
            try:
                self.observe()
            except Exception:  # noqa: BLE001 - the API or a worker may be mid-change
                pass

    def observe(self):
        signals = self.cluster.items("/apis/usp.dev/v1alpha1/namespaces/%s/usersignals" % NS)
        for s in signals:
            job = s["metadata"]["name"]
            st = s.get("status") or {}
            if "failovers" in st:
                if st["failovers"] < self.failovers.get(job, 0):
                    self.violations.append("%s status.failovers went back from %d to %d"
                                           % (job, self.failovers[job], st["failovers"]))
                self.failovers[job] = max(self.failovers.get(job, 0), st["failovers"])
            a = st.get("assignment")
            if not a:
                continue
            if (a.get("epoch") or 0) < self.max_epoch.get(job, 0):
                self.violations.append("%s status epoch went back from %d to %s"
                                       % (job, self.max_epoch[job], a.get("epoch")))
            self.max_epoch[job] = max(self.max_epoch.get(job, 0), a.get("epoch") or 0)
            actives = {w["name"]: tuple(w.get("partitions") or []) for w in a.get("workers", [])
                       if w.get("role") == "active"}
            seen = {}
            for w, ps in actives.items():
                for p in ps:
                    if p in seen:
                        self.violations.append("%s status epoch %s: partition %d owned by %s and %s"
                                               % (job, a.get("epoch"), p, seen[p], w))
                    seen[p] = w
            key = (job, a.get("epoch"))
            if key in self.epochs and self.epochs[key] != actives:
                self.violations.append("%s status epoch %s shown with two assignments: %s / %s"
                                       % (job, a.get("epoch"), self.epochs[key], actives))
            self.epochs.setdefault(key, actives)
        self.rounds += 1
        by_job_epoch = {}
        for pod in self.cluster.items("/api/v1/namespaces/%s/pods" % NS):
            job = pod["metadata"].get("labels", {}).get("usp.dev/job")
            ip = (pod.get("status") or {}).get("podIP")
            if not job or not ip or pod["status"].get("phase") != "Running":
                continue
            try:
                st = worker_status(ip, timeout=0.3)
            except Exception:  # noqa: BLE001 - dead or not listening yet
                continue
            if st.get("epoch"):
                by_job_epoch.setdefault((job, st["epoch"]), []).append(
                    (pod["metadata"]["name"], st.get("partitions") or []))
        for (job, epoch), workers in by_job_epoch.items():
            seen = {}
            for name, ps in workers:
                for p in ps:
                    if p in seen:
                        self.violations.append("%s workers at epoch %s: partition %d owned by %s and %s"
                                               % (job, epoch, p, seen[p], name))
                    seen[p] = name
        self.worker_rounds += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--kills", type=int, default=10, help="kill -9s of the operator mid-reconcile [10]")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    ap.add_argument("--write-delay-ms", type=int, default=150,
                    help="delay of each operator write during the kill phase [150]")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.kills < 4:
        ap.error("--kills: must be at least 4 (resources change after kills 1 and 3), got %d" % args.kills)
    seed = args.seed if args.seed is not None else int(time.time())
    rnd = random.Random(seed)
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
    if shutil.which("kubectl") is None:
        print("not ok - kubectl is not installed")
        print("0 passed, 1 failed")
        return 1
    print("# seed %d (--seed %d reproduces the kill points)" % (seed, seed), flush=True)

    work = tempfile.mkdtemp(prefix="operator-chaos-e2e.", dir=os.environ.get("USP_E2E_WORKDIR", build))
    procs = {}
    observer = None
    op_logs = []
    figures = {"kills": 0, "kills_mid_write": 0, "faults": 0}
    try:
        # --- Kafka, the double ---------------------------------------------------------
        topics = ["--topic", SOURCE]
        for name in list(JOBS) + ["echo"]:
            topics += ["--topic", "usp.signal." + name, "--topic", "usp.dlq." + name]
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
        cluster = Double(kubeconfig)
        cluster.kubectl("apply", "-f", os.path.join(ROOT, "crds"))
        c.check("kubectl apply -f crds/; UserSignals are served",
                eventually(20, lambda: cluster.kubectl("get", "usersignals", check=False) is not None))

        def start_operator():
            n = len(op_logs)
            log = os.path.join(work, "operator-%02d.log" % n)
            op_logs.append(log)
            port_file = os.path.join(work, "op-%02d.port" % n)
            procs["operator"] = subprocess.Popen(
                [operator, "--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-identity", IDENTITY,
                 "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s",
                 "--http-address", "127.0.0.1", "--http-port", "0", "--port-file", port_file,
                 "--kafka-bootstrap", bootstrap, "--worker-command", runtime, "--worker-image", "usp:e2e",
                 "--worker-prestop-sleep", "0", "--kafka-partitions", str(PARTITIONS), "--log-level", "info"],
                stdout=open(log, "w"), stderr=subprocess.STDOUT)
            return port_file

        observer = Observer(cluster)
        observer.start()

        def expected_jobs():
            return {s["metadata"]["name"]: s for s in
                    cluster.items("/apis/usp.dev/v1alpha1/namespaces/%s/usersignals" % NS)}

        def lagging(want):
            """Why the UserSignals are not (yet) as `want` (name -> (parallelism, standbys))
            says: at their generation, Ready, an assignment covering every partition once,
            and no other UserSignal; "" when they are."""
            live = expected_jobs()
            if sorted(live) != sorted(want):
                return "UserSignals %s, want %s" % (sorted(live), sorted(want))
            why = []
            for name, (p, s) in want.items():
                st = live[name].get("status") or {}
                ready = [x for x in st.get("conditions", []) if x["type"] == "Ready"]
                a = st.get("assignment") or {}
                acts = [w for w in a.get("workers", []) if w.get("role") == "active"]
                owned = sorted(q for w in acts for q in w.get("partitions") or [])
                if (st.get("observedGeneration") != live[name]["metadata"].get("generation")
                        or not ready or ready[0]["status"] != "True" or len(acts) != p
                        or owned != list(range(PARTITIONS)) or a.get("unassigned")
                        or (st.get("replicas") or {}).get("active") != p
                        or (st.get("replicas") or {}).get("standby") != s):
                    why.append("%s (generation %s, want %d+%d): %s" % (
                        name, live[name]["metadata"].get("generation"), p, s, json.dumps(st)[:1500]))
            return "; ".join(why)

        def check_end_state(phase, want):
            t0 = time.time()
            ok = eventually(120, lambda: not lagging(want), interval=1)
            c.check("%s: every UserSignal (%s) converges in %.0f s: status at its generation, Ready, "
                    "assignment covers partitions 0-%d" % (phase, ", ".join(sorted(want)), time.time() - t0,
                                                           PARTITIONS - 1),
                    ok, lagging(want))
            if not ok:
                return
            live = expected_jobs()
            deps = cluster.items("/apis/apps/v1/namespaces/%s/deployments" % NS)
            cms = cluster.items("/api/v1/namespaces/%s/configmaps" % NS)
            pods = cluster.items("/api/v1/namespaces/%s/pods" % NS)
            uids = {s["metadata"]["uid"]: n for n, s in live.items()}
            problems = []
            for name, (p, s) in want.items():
                uid = live[name]["metadata"]["uid"]
                for kind, objs in (("Deployment", deps), ("ConfigMap", cms)):
                    mine = [o for o in objs if o["metadata"].get("labels", {}).get("usp.dev/job") == name]
                    if [o["metadata"]["name"] for o in mine] != ["usp-" + name]:
                        problems.append("%s %s: %s" % (kind, name, [o["metadata"]["name"] for o in mine]))
                        continue
                    refs = [r for r in mine[0]["metadata"].get("ownerReferences", []) if r.get("controller")]
                    if len(refs) != 1 or refs[0]["uid"] != uid or refs[0]["kind"] != "UserSignal":
                        problems.append("%s usp-%s owner: %s" % (kind, name, refs))
                dep = [d for d in deps if d["metadata"]["name"] == "usp-" + name]
                if dep and dep[0]["spec"]["replicas"] != p + s:
                    problems.append("Deployment usp-%s replicas %s, want %d" % (name, dep[0]["spec"]["replicas"], p + s))
                if live[name]["metadata"].get("finalizers") != ["usp.dev/cleanup"]:
                    problems.append("UserSignal %s finalizers %s" % (name, live[name]["metadata"].get("finalizers")))
            c.check("%s: exactly one Deployment and one ConfigMap per UserSignal, controlled by it, with the "
                    "wanted replicas" % phase, not problems, "; ".join(problems))
            orphans = []
            for kind, objs in (("Deployment", deps), ("ConfigMap", cms)):
                for o in objs:
                    if o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "usp-operator":
                        continue
                    if o["metadata"]["name"] == "usp-query-catalog":
                        continue
                    if not any(r["uid"] in uids for r in o["metadata"].get("ownerReferences", [])):
                        orphans.append("%s %s" % (kind, o["metadata"]["name"]))
            c.check("%s: no orphaned workloads" % phase, not orphans, ", ".join(orphans))
            stuck = [n for n, s in live.items() if s["metadata"].get("deletionTimestamp")]
            c.check("%s: no UserSignal stuck in deletion" % phase, not stuck, ", ".join(stuck))

            def pods_settled():
                ps = cluster.items("/api/v1/namespaces/%s/pods" % NS)
                count = {}
                for pod in ps:
                    job = pod["metadata"].get("labels", {}).get("usp.dev/job")
                    if job and not pod["metadata"].get("deletionTimestamp") and pod["status"].get("phase") == "Running":
                        count[job] = count.get(job, 0) + 1
                return count if count == {n: p + s for n, (p, s) in want.items()} else None
            counts = eventually(30, pods_settled, interval=0.5)
            c.check("%s: worker pods per job match the Deployments %s" % (phase, {n: p + s for n, (p, s) in want.items()}),
                    counts, str(pods_settled() or len(pods)))
            cat = json.loads(cluster.kubectl("get", "configmap", "usp-query-catalog", "-o", "json"))
            listed = sorted(e["name"] for e in json.loads(cat["data"]["index.json"])["signals"])
            c.check("%s: the query catalog lists exactly %s" % (phase, sorted(want)), listed == sorted(want), str(listed))

        # --- phase 1: kill -9 mid-reconcile -------------------------------------------------
        want = dict(JOBS)
        cluster.faults({"delay_next": [{"verb": v, "ms": args.write_delay_ms, "count": -1, "resource": r}
                                       for v in ("create", "update", "patch", "delete")
                                       for r in ("deployments", "configmaps", "usersignals")]})
        applied = False
        port_file = None
        # A change while the operator is down, so each restart has work to do:
        # a job's ConfigMap deleted (re-created), alpha's standbys toggled
        # (Deployment scaled, status rewritten), charlie scaled, delta deleted.

        def toggle_alpha():
            p, s = want["alpha"]
            s = 0 if s else 1
            cluster.kubectl("patch", "usersignal", "alpha", "--type", "merge", "-p",
                            '{"spec": {"standbyReplicas": %d}}' % s)
            want["alpha"] = (p, s)
            return "kubectl patch usersignal alpha: standbyReplicas %d" % s

        def delete_configmap():
            name = rnd.choice(sorted(want))
            cluster.kubectl("delete", "configmap", "usp-" + name, "--ignore-not-found")
            return "kubectl delete configmap usp-" + name

        def scale_charlie():
            cluster.kubectl("patch", "usersignal", "charlie", "--type", "merge", "-p",
                            '{"spec": {"parallelism": 2, "standbyReplicas": 0}}')
            want["charlie"] = (2, 0)
            return "kubectl patch usersignal charlie: parallelism 2, no standby"

        def delete_delta():
            cluster.kubectl("delete", "usersignal", "delta", "--wait=false")
            want.pop("delta", None)
            return "kubectl delete usersignal delta"
        for k in range(args.kills):
            if k == 1:
                print("#   " + scale_charlie(), flush=True)
            elif k == 3:
                print("#   " + delete_delta(), flush=True)
            elif k > 0:
                print("#   " + rnd.choice((toggle_alpha, delete_configmap))(), flush=True)
            since = cluster.next_seq()
            port_file = start_operator()
            if not applied:
                for name, (p, s) in JOBS.items():
                    cluster.kubectl("apply", "-f", "-", stdin=resource(name, p, s))
                applied = True
            target = rnd.randint(1, 5)
            writes = eventually(8, lambda: (lambda w: w if len(w) >= target else None)(cluster.operator_writes(since)),
                                interval=0.02)
            procs["operator"].send_signal(signal.SIGKILL)
            procs["operator"].wait()
            figures["kills"] += 1
            done = cluster.operator_writes(since)
            if writes:
                figures["kills_mid_write"] += 1
            print("#   kill -9 #%d after %d operator writes (wanted %d): last %s" % (
                k + 1, len(done), target,
                ["%s %s%s %s" % (e["verb"], e["resource"], "/" + e["subresource"] if e["subresource"] else "",
                                 e["name"]) for e in done[-3:]]), flush=True)
        c.check("the operator was killed %d times, %d of them right after a write of its reconcile"
                % (figures["kills"], figures["kills_mid_write"]),
                figures["kills"] == args.kills and figures["kills_mid_write"] >= args.kills // 2,
                str(figures))
        cluster.faults({"clear": True})
        port_file = start_operator()
        c.check("a restarted operator leads again", eventually(20, lambda: IDENTITY in cluster.kubectl(
            "get", "lease", "usp-operator", "-o", "jsonpath={.spec.holderIdentity}", check=False)))
        check_end_state("after %d kills" % figures["kills"], want)
        gone = eventually(30, lambda: all(
            not cluster.kubectl("get", kind, name, "--ignore-not-found", "-o", "name", check=False).strip()
            for kind, name in (("usersignal", "delta"), ("deployment", "usp-delta"), ("configmap", "usp-delta"))))
        c.check("the UserSignal deleted mid-chaos is gone (finalizer done) with its Deployment and ConfigMap", gone)

        # --- phase 2: 500s on writes ----------------------------------------------------------
        op_url = "http://127.0.0.1:" + open(port_file).read().strip()
        errors_metric = 'usp_operator_reconcile_total{kind="UserSignal",result="error"}'
        errors_before = metric(op_url, errors_metric) or 0
        rules = [
            # stored, but answered 500: the retry must adopt the object, not duplicate or fail forever
            {"verb": "create", "code": 500, "count": 1, "resource": "configmaps", "after": True},
            {"verb": "create", "code": 500, "count": 1, "resource": "deployments"},
            {"verb": "create", "code": 500, "count": 1, "resource": "deployments", "after": True},
            {"verb": "update", "code": 500, "count": 3, "resource": "deployments"},
            {"verb": "update", "code": 500, "count": 2, "resource": "usersignals", "subresource": ""},
            {"verb": "update", "code": 500, "count": 2, "resource": "usersignals", "subresource": "status",
             "after": True},
            {"verb": "update", "code": 500, "count": 4, "resource": "usersignals", "subresource": "status"},
            {"verb": "update", "code": 503, "count": 2, "resource": "configmaps"},
        ]
        figures["faults"] = sum(r["count"] for r in rules)
        since = cluster.next_seq()
        cluster.faults({"fail_next": rules})
        print("#   injected %d failures on the operator's writes" % figures["faults"], flush=True)
        cluster.kubectl("apply", "-f", "-", stdin=resource("echo", 1, 1))
        want["echo"] = (1, 1)
        cluster.kubectl("patch", "usersignal", "bravo", "--type", "merge", "-p", '{"spec": {"parallelism": 2}}')
        want["bravo"] = (2, 0)
        pending = eventually(60, lambda: not cluster.faults({}).get("fail_next"), interval=0.5)
        left = cluster.faults({}).get("fail_next")
        c.check("every injected 500/503 met an operator write", pending, json.dumps(left))
        cluster.faults({"clear": True})
        injected = [e for e in cluster.control("/_double/requests?since=%d" % since)["requests"] if e["fault"]]
        figures["faults"] = len(injected)
        print("#   %d requests failed: %s" % (len(injected), sorted({"%s %s%s %s" % (
            e["verb"], e["resource"], "/" + e["subresource"] if e["subresource"] else "", e["fault"])
            for e in injected})), flush=True)
        check_end_state("after %d injected 5xx" % figures["faults"], want)
        log = open(op_logs[-1], errors="replace").read()
        c.check("the failures are logged (`reconcile UserSignal ...: ... injected failure`)",
                "injected failure" in log and "reconcile UserSignal" in log)
        errors_after = metric(op_url, errors_metric) or 0
        c.check("usp_operator_reconcile_total{result=\"error\"} counted them (%d -> %d)" % (errors_before, errors_after),
                errors_after > errors_before)
        live = expected_jobs()
        bravo = live["bravo"]
        c.check("no lost status: bravo's status shows generation %s, 2 actives, 0 standbys"
                % bravo["metadata"]["generation"],
                bravo["status"]["observedGeneration"] == bravo["metadata"]["generation"]
                and bravo["status"]["replicas"]["active"] == 2, json.dumps(bravo["status"]))
        dups = [e for e in cluster.control("/_double/requests?since=%d" % since)["requests"]
                if e["verb"] == "create" and e["resource"] in ("deployments", "configmaps")
                and e["name"] == "usp-echo"]
        print("#   creates of usp-echo workloads: %s" % [(e["resource"], e["fault"]) for e in dups], flush=True)

        observer.stop_flag.set()
        observer.join()
        jobs_epochs = sorted({"%s@%s" % k for k in observer.epochs if k[1] is not None})
        c.check("no partition owned twice at any observed epoch, no epoch reused or going back, "
                "status.failovers never back (%d status and %d worker rounds, %d job epochs)"
                % (observer.rounds, observer.worker_rounds, len(jobs_epochs)),
                not observer.violations and observer.rounds > 0 and observer.worker_rounds > 0,
                "; ".join(observer.violations[:5]))
        print("# figures: kills %d (%d right after a reconcile write), 5xx injected %d, duplicates 0, "
              "lost status 0" % (figures["kills"], figures["kills_mid_write"], figures["faults"])
              if c.failed == 0 else "# figures: %s" % figures, flush=True)
        return 0 if c.failed == 0 else 1
    finally:
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
            for log in op_logs[-2:] + [os.path.join(work, "double.log"), os.path.join(work, "broker.log")]:
                if os.path.exists(log):
                    print("--- " + log)
                    print("".join(open(log, errors="replace").readlines()[-30:]))
        print("%d passed, %d failed" % (c.passed, c.failed))
        if args.keep:
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
