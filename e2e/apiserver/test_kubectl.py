"""The real kubectl (/usr/bin/kubectl) against the double."""

import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from doubletest import Double, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata")
PROJECT_CRDS = os.path.join(HERE, "..", "..", "crds")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class KubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Double("--run-pods")
        cls.env = dict(os.environ, KUBECONFIG=cls.d.kubeconfig, HOME=cls.d.dir)
        cls.kubectl_ok("apply", "-f", os.path.join(DATA, "widget-crd.yaml"))

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    @classmethod
    def kubectl(cls, *args, stdin=None):
        p = subprocess.run([KUBECTL] + list(args), env=cls.env, input=stdin, text=True,
                           capture_output=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    @classmethod
    def kubectl_ok(cls, *args, stdin=None):
        rc, out, err = cls.kubectl(*args, stdin=stdin)
        if rc != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), rc, out, err))
        return out

    def widget_yaml(self, name, wtype="simple", size=None, finalizer=False):
        lines = ["apiVersion: test.usp.dev/v1", "kind: Widget", "metadata:",
                 "  name: " + name, "  labels:", "    app: demo"]
        if finalizer:
            lines += ["  finalizers:", "  - usp.dev/cleanup"]
        lines += ["spec:", "  type: " + wtype, "  topics: [clicks, views]"]
        if size is not None:
            lines.append("  size: %d" % size)
        return "\n".join(lines) + "\n"

    def test_apply_get_columns_yaml_describe(self):
        out = self.kubectl_ok("apply", "-f", os.path.join(DATA, "widget.yaml"))
        self.assertIn("widget.test.usp.dev/w1 created", out)
        self.kubectl_ok("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p",
                        json.dumps({"status": {"conditions": [{"type": "Ready",
                                                               "status": "True"}]}}))
        out = self.kubectl_ok("get", "widgets")
        header, row = out.splitlines()[0].split(), out.splitlines()[1].split()
        self.assertEqual(header, ["NAME", "TYPE", "SIZE", "READY", "AGE"])
        self.assertEqual(row[:4], ["w1", "simple", "3", "True"])
        self.assertIn("w1", self.kubectl_ok("get", "wg"))        # short name
        self.assertIn("w1", self.kubectl_ok("get", "usptest"))   # category
        y = self.kubectl_ok("get", "widget", "w1", "-o", "yaml")
        self.assertIn("kind: Widget", y)
        self.assertIn("size: 3", y)  # schema default applied server-side
        self.assertRegex(y, r'resourceVersion: "\d+"')
        obj = json.loads(self.kubectl_ok("get", "widget", "w1", "-o", "json"))
        self.assertEqual(obj["status"]["conditions"][0]["status"], "True")
        d = self.kubectl_ok("describe", "widget", "w1")
        self.assertRegex(d, r"Name:\s+w1")
        self.assertRegex(d, r"Kind:\s+Widget")
        self.assertRegex(d, r"Type:\s+simple")

    def test_apply_again_updates_through_patch(self):
        self.kubectl_ok("apply", "-f", "-", stdin=self.widget_yaml("w2", size=2))
        out = self.kubectl_ok("apply", "-f", "-", stdin=self.widget_yaml("w2", "left_join", 5))
        self.assertIn("widget.test.usp.dev/w2 configured", out)
        obj = json.loads(self.kubectl_ok("get", "widget", "w2", "-o", "json"))
        self.assertEqual((obj["spec"]["type"], obj["spec"]["size"]), ("left_join", 5))
        self.assertEqual(obj["metadata"]["generation"], 2)
        out = self.kubectl_ok("apply", "-f", "-", stdin=self.widget_yaml("w2", "left_join", 5))
        self.assertIn("unchanged", out)

    def test_invalid_resource_is_rejected_with_field_path(self):
        rc, out, err = self.kubectl("apply", "-f", "-", stdin=self.widget_yaml("bad", "round"))
        self.assertNotEqual(rc, 0)
        self.assertIn("spec.type", err)
        self.assertIn('Unsupported value: "round"', err)
        rc, _, err = self.kubectl("apply", "-f", "-",
                                  stdin=self.widget_yaml("bad2") + "  colour: red\n")
        self.assertNotEqual(rc, 0)
        self.assertIn('unknown field "spec.colour"', err)

    def test_dry_run_server_does_not_persist(self):
        out = self.kubectl_ok("apply", "--dry-run=server", "-f", "-",
                              stdin=self.widget_yaml("dry"))
        self.assertIn("(server dry run)", out)
        rc, _, err = self.kubectl("get", "widget", "dry")
        self.assertNotEqual(rc, 0)
        self.assertIn("NotFound", err)
        self.kubectl_ok("apply", "-f", "-", stdin=self.widget_yaml("dry2", size=2))
        self.kubectl_ok("apply", "--dry-run=server", "-f", "-",
                        stdin=self.widget_yaml("dry2", size=9))
        obj = json.loads(self.kubectl_ok("get", "widget", "dry2", "-o", "json"))
        self.assertEqual(obj["spec"]["size"], 2)

    def test_delete_waits_on_finalizer(self):
        self.kubectl_ok("apply", "-f", "-", stdin=self.widget_yaml("fin", finalizer=True))
        self.kubectl_ok("delete", "widget", "fin", "--wait=false")
        obj = json.loads(self.kubectl_ok("get", "widget", "fin", "-o", "json"))
        self.assertIn("deletionTimestamp", obj["metadata"])
        self.kubectl_ok("patch", "widget", "fin", "--type=json",
                        "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        rc, _, err = self.kubectl("get", "widget", "fin")
        self.assertNotEqual(rc, 0)
        self.assertIn('widgets.test.usp.dev "fin" not found', err)

    def test_builtin_apply_and_delete(self):
        cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
              "  a: \"1\"\n  b: \"2\"\n")
        self.kubectl_ok("apply", "-f", "-", stdin=cm)
        self.kubectl_ok("apply", "-f", "-", stdin=cm.replace('  b: "2"\n', '  c: "3"\n'))
        data = json.loads(self.kubectl_ok("get", "cm", "cfg", "-o", "json"))["data"]
        self.assertEqual(data, {"a": "1", "c": "3"})  # b pruned by the 3-way patch
        out = self.kubectl_ok("delete", "configmap", "cfg")
        self.assertIn('configmap "cfg" deleted', out)

    def test_project_crds_apply(self):
        files = sorted(glob.glob(os.path.join(PROJECT_CRDS, "*.yaml")))
        if not files:
            self.skipTest("no crds/*.yaml in the project yet")
        self.kubectl_ok("apply", "-f", os.path.abspath(PROJECT_CRDS))
        names = self.kubectl_ok("get", "crds", "-o", "name")
        for kind in ("usersignals", "usersegments", "sessionjobs"):
            self.assertIn("%s.usp.dev" % kind, names)
            rc, out, err = self.kubectl("get", kind)
            self.assertEqual(rc, 0, err)

    def test_deployment_runs_pods_as_processes(self):
        self.kubectl_ok("apply", "-f", os.path.join(DATA, "web-deployment.yaml"))
        self.kubectl_ok("rollout", "status", "deployment/web", "--timeout=30s")
        out = self.kubectl_ok("get", "pods", "-l", "app=web")
        rows = [line.split() for line in out.splitlines()[1:]]
        self.assertEqual(len(rows), 2, out)
        for r in rows:
            self.assertRegex(r[0], r"^web-[a-z0-9]{10}-[a-z0-9]{5}$")
            self.assertEqual(r[1:3], ["1/1", "Running"])
        pods = json.loads(self.kubectl_ok("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        ips = {p["status"]["podIP"] for p in pods}
        self.assertEqual(len(ips), 2)
        self.assertTrue(all(ip.startswith("127.") and ip != "127.0.0.1" for ip in ips))
        self.assertEqual(pods[0]["metadata"]["ownerReferences"][0]["kind"], "Deployment")
        wait_for(lambda: "GET / HTTP" in self.kubectl("logs", pods[0]["metadata"]["name"])[1],
                 what="probe requests in the pod's log")
        self.kubectl_ok("scale", "deployment/web", "--replicas=1")
        wait_for(lambda: len(json.loads(self.kubectl_ok(
            "get", "pods", "-l", "app=web", "-o", "json"))["items"]) == 1, what="scale down")
        dep = json.loads(self.kubectl_ok("get", "deploy", "web", "-o", "json"))
        self.assertEqual(dep["status"]["observedGeneration"], dep["metadata"]["generation"])
        self.kubectl_ok("delete", "deployment", "web")
        wait_for(lambda: self.kubectl_ok("get", "pods", "-l", "app=web", "-o", "name") == "",
                 what="pods garbage collected")

    def test_failed_pod_is_replaced(self):
        # The failed pod lives about 1.5 s (0.5 s running, then 1 s Failed before the
        # kubelet deletes it): too short to catch by polling with kubectl on a loaded
        # machine. `kubectl get -w` sees every state it went through, in order.
        dep = """apiVersion: apps/v1
kind: Deployment
metadata: {name: crash}
spec:
  replicas: 1
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash}}
    spec:
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "if [ -e MARK ]; then exec sleep 60; fi; touch MARK; sleep 0.5; exit 3"]
"""
        mark = os.path.join(self.d.dir, "crashed-once")
        watch = KubectlWatch(self, "pods", "-l", "app=crash")
        try:
            self.kubectl_ok("apply", "-f", "-", stdin=dep.replace("MARK", mark))
            first = watch.wait(lambda e: e["type"] == "ADDED", "first pod")
            first = first["object"]["metadata"]["name"]

            def of_first(e):
                return e["object"]["metadata"]["name"] == first

            failed = watch.wait(lambda e: of_first(e) and e["object"].get("status", {}).get(
                "phase") == "Failed", "the first pod Failed")["object"]["status"]
            self.assertEqual(failed["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3)
            self.assertEqual(failed["containerStatuses"][0]["state"]["terminated"]["reason"],
                             "Error")
            watch.wait(lambda e: of_first(e) and e["type"] == "DELETED", "failed pod replaced")
            running = watch.wait(lambda e: not of_first(e) and e["type"] != "DELETED" and any(
                c.get("status") == "True" and c.get("type") == "Ready"
                for c in e["object"].get("status", {}).get("conditions", [])),
                "replacement ready")["object"]
            self.assertEqual(running["status"]["phase"], "Running")
            self.assertIn("running", running["status"]["containerStatuses"][0]["state"])
            self.assertEqual(running["metadata"]["ownerReferences"][0]["name"], "crash")
        finally:
            watch.stop()
        # What a person would see now: one pod, the replacement, Running.
        out = self.kubectl_ok("get", "pods", "-l", "app=crash")
        rows = [line.split() for line in out.splitlines()[1:]]
        self.assertEqual([(r[0], r[2]) for r in rows],
                         [(running["metadata"]["name"], "Running")], out)
        self.kubectl_ok("delete", "deployment", "crash", "--wait=false")

    def test_graceful_delete_runs_the_prestop_hook_before_sigterm(self):
        log = os.path.join(self.d.dir, "prestop.log")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hooked"},
               "spec": {"terminationGracePeriodSeconds": 10, "containers": [{
                   "name": "c", "image": "busybox",
                   "command": ["sh", "-c", "trap 'echo TERM >> %s; exit 0' TERM; "
                               "while true; do sleep 0.1; done" % log],
                   "lifecycle": {"preStop": {"exec": {"command": [
                       "sh", "-c", "sleep 1; echo PRESTOP >> %s" % log]}}}}]}}
        self.kubectl_ok("apply", "-f", "-", stdin=json.dumps(pod))
        wait_for(lambda: "Running" in self.kubectl_ok("get", "pod", "hooked"), what="pod running")
        self.kubectl_ok("delete", "pod", "hooked", "--wait=true", "--timeout=30s")
        with open(log) as f:
            self.assertEqual(f.read().split(), ["PRESTOP", "TERM"])


class KubectlWatch:
    """`kubectl get KIND ARGS --watch --output-watch-events -o json` in the background.

    Started before the change it is to see; returns once kubectl's watch request has
    reached the double (kubectl lists, then watches from the list's resourceVersion, so
    every later change of the listed objects is streamed, however slow kubectl is).
    """

    def __init__(self, test, *args):
        self.test = test
        since = test.d.request("GET", "/_double/requests")[1]["next"]
        self.err = open(os.path.join(test.d.dir, "kubectl-watch.err"), "w+")
        self.proc = subprocess.Popen(
            [KUBECTL, "get"] + list(args) + ["--watch", "--output-watch-events", "-o", "json"],
            env=test.env, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.events = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        resource = args[0]

        def watching():
            if self.proc.poll() is not None:
                raise AssertionError("kubectl get --watch exited: " + self._stderr())
            log = test.d.request("GET", "/_double/requests?since=%d" % since)[1]["requests"]
            return any(e["verb"] == "watch" and e["resource"] == resource and
                       "kubectl" in (e.get("agent") or "") for e in log)

        wait_for(watching, what="kubectl's watch of " + resource)

    def _stderr(self):
        self.err.seek(0)
        return self.err.read()

    def _read(self):
        # One JSON document per event (kubectl prints them one a line with
        # --output-watch-events; a document split over lines is decoded once whole).
        decoder = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            buf += line
            while buf.strip():
                try:
                    event, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break  # not complete yet
                buf = buf.lstrip()[end:]
                with self.cond:
                    self.events.append(event)
                    self.cond.notify_all()
        with self.cond:
            self.events.append(None)  # the end of the stream
            self.cond.notify_all()

    def wait(self, pred, what, timeout=60):
        """The first event (in stream order) that pred accepts; fails after timeout."""
        deadline = time.time() + timeout
        seen = 0
        with self.cond:
            while True:
                while seen < len(self.events):
                    e = self.events[seen]
                    seen += 1
                    if e is None:
                        raise AssertionError("kubectl's watch ended before %s: %s; events: %s"
                                             % (what, self._stderr(), self.summary()))
                    if pred(e):
                        return e
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; events: %s"
                                         % (what, self.summary()))
                self.cond.wait(left)

    def summary(self):
        return [(e["type"], e["object"]["metadata"]["name"],
                 e["object"].get("status", {}).get("phase")) for e in self.events if e]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=30)
        self.proc.stdout.close()
        self.err.close()


class PodProcessLifetimeTest(unittest.TestCase):
    def test_pod_processes_die_with_the_double(self):
        d = Double("--run-pods")
        try:
            dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleeper"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "s"}},
                            "template": {"metadata": {"labels": {"app": "s"}}, "spec": {
                                "containers": [{"name": "s", "image": "x",
                                                "command": ["sleep", "60"]}]}}}}
            code, _ = d.request("POST", "/apis/apps/v1/namespaces/default/deployments", dep)
            self.assertEqual(code, 201)
            pods = wait_for(lambda: [p for p in d.request("GET", "/_double/state")[1]["pods"]
                                     if p["pids"]] if len(d.request(
                                         "GET", "/_double/state")[1]["pods"]) == 2 else None,
                            what="two running pods")
            pids = [pid for p in pods for pid in p["pids"].values()]
            for pid in pids:
                os.kill(pid, 0)  # alive
        finally:
            d.stop()

        def all_gone():
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    return False
                except ProcessLookupError:
                    pass
            return True

        wait_for(all_gone, what="pod processes killed on exit")


if __name__ == "__main__":
    unittest.main()
