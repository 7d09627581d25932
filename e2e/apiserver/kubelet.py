"""The kubelet stand-in: runs each Pod's containers as local processes.

Each pod gets its own loopback address 127.B.x.y (B: a block no
other double on this machine holds) (status.podIP and the
`status.podIP` fieldRef), its containers' `command + args` run with the pod's
env (value, fieldRef, configMapKeyRef, secretKeyRef, envFrom, $(VAR)
expansion) in their own process group, stdout/stderr go to a log file served
by `pods/<name>/log`. configMap, secret and emptyDir volumes are written
under the pod's directory, and strings in command/args/env that start with a
volumeMount's mountPath are rewritten to that directory (processes cannot
mount into /etc). Readiness (httpGet, tcpSocket, exec) drives the Ready
condition; a failing liveness probe kills the container.

Unlike a real kubelet, a container that exits is not restarted in place: the
pod is marked terminated (phase Failed, containerStatuses[].state.terminated
with the exit code, Ready=False), and if a controller owns it, it is deleted
after `replace_delay` so the Deployment controller creates a fresh pod.

Deleting a pod sets deletionTimestamp; the kubelet runs the containers'
preStop hooks (exec, httpGet, sleep), sends SIGTERM to the process group,
SIGKILL when the grace period is over, then removes the object.
"""

import base64
import copy
import http.client
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from deployments import DeploymentController
from errors import ApiError
from store import now_rfc3339

NODE_NAME = "usp-double-node"
PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "TMPDIR", "TZ")


class IpPool:
    """Pod addresses 127.B.x.y from a /16 block B that no other API double on
    this machine holds (an flock on a file in the temp dir), so that two
    doubles running side by side (parallel tests) never hand out the same
    pod address and port."""

    def __init__(self):
        self.block_lock = None
        block = None
        lock_dir = tempfile.gettempdir()
        for b in range(16, 255):
            f = open(os.path.join(lock_dir, "usp-apiserver-double-ips-%d.lock" % b), "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            self.block_lock, block = f, b  # held for the life of the process
            break
        if block is None:
            raise RuntimeError("no free 127.B.0.0/16 pod address block (all 16..254 locked)")
        self.block = block
        self.free = ["127.%d.%d.%d" % (block, n // 254, n % 254 + 1) for n in range(0, 254 * 4)]
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            return self.free.pop(0)

    def give(self, ip):
        with self.lock:
            self.free.append(ip)  # reused last, so a dead pod's IP is not reused at once


class PodWorker(threading.Thread):
    """Owns one pod's processes and writes its status."""

    def __init__(self, kubelet, pod):
        super().__init__(name="pod-" + pod["metadata"]["name"], daemon=True)
        self.k = kubelet
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.pod = pod
        self.dir = os.path.join(kubelet.pod_dir, "%s_%s" % (self.ns, self.name))
        self.ip = kubelet.ips.take()
        self.procs = {}       # container name -> Popen
        self.started_at = {}
        self.terminated = {}  # container name -> terminated state
        self.ready = {}
        self.probe_state = {}  # (container, kind) -> [next_due, failures, successes]
        self.stop_event = threading.Event()
        self.kill_now = threading.Event()
        self.grace = None
        self.lock = threading.Lock()
        self.start_time = now_rfc3339()

    # --- setup ------------------------------------------------------------------

    def _lookup(self, kind, name, key, optional):
        t = self.k.registry.lookup("", "v1", kind)
        try:
            obj = self.k.store.get(t, self.ns, name)
        except ApiError:
            if optional:
                return None
            raise RuntimeError("%s %r not found" % (kind[:-1], name))
        data = obj.get("data") or {}
        if key is None:
            return {k: (base64.b64decode(v).decode() if kind == "secrets" else v)
                    for k, v in data.items()}
        if key not in data:
            if optional:
                return None
            raise RuntimeError("key %r not found in %s %r" % (key, kind[:-1], name))
        return base64.b64decode(data[key]).decode() if kind == "secrets" else data[key]

    def _field(self, path):
        md = self.pod["metadata"]
        m = re.match(r"^metadata\.(labels|annotations)\['(.*)'\]$", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        return {"metadata.name": self.name, "metadata.namespace": self.ns,
                "metadata.uid": self.uid, "status.podIP": self.ip, "status.podIPs": self.ip,
                "status.hostIP": "127.0.0.1", "spec.nodeName": NODE_NAME,
                "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default")
                }.get(path, "")

    def _env(self, c):
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env["HOSTNAME"] = self.name
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if "configMapRef" in ef:
                r = ef["configMapRef"]
                vals = self._lookup("configmaps", r["name"], None, r.get("optional"))
            else:
                r = ef.get("secretRef") or {}
                vals = self._lookup("secrets", r.get("name"), None, r.get("optional"))
            for k, v in (vals or {}).items():
                env[prefix + k] = v
        for e in c.get("env") or []:
            if "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf:
                    v = self._field(vf["fieldRef"].get("fieldPath", ""))
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    v = self._lookup("configmaps", r["name"], r["key"], r.get("optional"))
                elif "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    v = self._lookup("secrets", r["name"], r["key"], r.get("optional"))
                else:
                    v = ""
                if v is None:
                    continue
            else:
                v = _expand(e.get("value", ""), env)
            env[e["name"]] = v
        return env

    def _volumes(self):
        """Materializes volumes; returns {volume name: directory}."""
        out = {}
        for v in self.pod["spec"].get("volumes") or []:
            d = os.path.join(self.dir, "volumes", v["name"])
            os.makedirs(d, exist_ok=True)
            files = {}
            if "configMap" in v:
                cm = v["configMap"]
                files = self._lookup("configmaps", cm.get("name"), None, cm.get("optional")) or {}
                files = _select_items(files, cm.get("items"))
            elif "secret" in v:
                s = v["secret"]
                files = self._lookup("secrets", s.get("secretName"), None, s.get("optional")) or {}
                files = _select_items(files, s.get("items"))
            for rel, content in files.items():
                p = os.path.join(d, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(content)
            out[v["name"]] = d
        return out

    def _spawn(self, c, volumes):
        name = c["name"]
        mounts = []
        for m in c.get("volumeMounts") or []:
            if m.get("name") in volumes:
                target = os.path.join(volumes[m["name"]], m.get("subPath", ""))
                mounts.append((m["mountPath"].rstrip("/"), target.rstrip("/")))
        mounts.sort(key=lambda x: -len(x[0]))

        def rewrite(s):
            for mp, target in mounts:
                if s == mp or s.startswith(mp + "/"):
                    return target + s[len(mp):]
                if "=" + mp + "/" in s or s.endswith("=" + mp):  # --flag=/mount/path
                    # One rewrite only: the target may itself lie under
                    # another mount path (pods live under /tmp, /tmp is mounted).
                    return s.replace("=" + mp, "=" + target, 1)
            return s

        env = {k: rewrite(v) for k, v in self._env(c).items()}
        argv = [_expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
        # No images here: the program is a host binary. Keep its path even when
        # it lies under a mount path (a checkout under /tmp, with /tmp mounted).
        argv = [a if i == 0 and os.path.isfile(a) else rewrite(a) for i, a in enumerate(argv)]
        if not argv:
            raise RuntimeError("container %r has no command (images are not run)" % name)
        cwd = c.get("workingDir")
        if not cwd or not os.path.isdir(cwd):
            cwd = self.dir
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        try:
            with self.k.lock:  # shutdown() must see every process it has to kill
                if self.k.stopping.is_set():
                    raise RuntimeError("kubelet is shutting down")
                p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
                self.procs[name] = p
        finally:
            log.close()
        self.started_at[name] = now_rfc3339()

    # --- lifecycle ------------------------------------------------------------------

    def run(self):
        os.makedirs(self.dir, exist_ok=True)
        try:
            volumes = self._volumes()
            for c in self.pod["spec"].get("containers") or []:
                try:
                    self._spawn(c, volumes)
                except (OSError, RuntimeError) as e:
                    self.terminated[c["name"]] = {"exitCode": 128, "reason": "StartError",
                                                  "message": str(e), "startedAt": now_rfc3339(),
                                                  "finishedAt": now_rfc3339()}
        except RuntimeError as e:
            for c in self.pod["spec"].get("containers") or []:
                self.terminated[c["name"]] = {"exitCode": 128, "reason": "CreateContainerConfigError",
                                              "message": str(e), "startedAt": now_rfc3339(),
                                              "finishedAt": now_rfc3339()}
        self._write_status()
        while not self.stop_event.wait(0.1):
            changed = self._reap()
            changed |= self._probe()
            if changed:
                self._write_status()
            if self.terminated and len(self.terminated) == len(self.pod["spec"]["containers"]):
                break
            if self.terminated:  # one container died: take the pod down
                self._kill_all(signal.SIGKILL, 0)
        if self.terminated and not self.stop_event.is_set():
            self._write_status()
            owned = any(r.get("controller") for r in self.pod["metadata"].get("ownerReferences") or [])
            if owned and not self.stop_event.wait(self.k.replace_delay):
                self.k.delete_pod(self.ns, self.name, self.uid)
        self.stop_event.wait()
        deadline = time.time() + (self.grace or 0)
        if self.grace:
            self._pre_stop(deadline)
        self._kill_all(signal.SIGTERM, max(0.0, deadline - time.time()))
        self.k.ips.give(self.ip)
        self.k.finished(self)

    def request_stop(self, grace):
        with self.lock:
            if self.grace is None or grace < self.grace:
                self.grace = grace
            if grace == 0:
                self.kill_now.set()  # e.g. --grace-period=0 during a preStop hook
        self.stop_event.set()

    def _pre_stop(self, deadline):
        """Runs the preStop hooks (exec, httpGet, sleep) of the running containers
        before SIGTERM, within the grace period, as the kubelet does."""
        for c in self.pod["spec"].get("containers") or []:
            hook = ((c.get("lifecycle") or {}).get("preStop")) or {}
            name = c["name"]
            if not hook or name in self.terminated or name not in self.procs \
                    or self.procs[name].poll() is not None:
                continue
            left = lambda: max(0.0, deadline - time.time())  # noqa: E731
            try:
                if "exec" in hook:
                    p = subprocess.Popen(hook["exec"].get("command") or ["true"], env=self._env(c),
                                         cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    while p.poll() is None and left() > 0 and not self.kill_now.wait(0.05):
                        pass
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                elif "sleep" in hook:
                    self.kill_now.wait(min(left(), float(hook["sleep"].get("seconds", 0))))
                elif "httpGet" in hook:
                    g = hook["httpGet"]
                    conn = http.client.HTTPConnection(g.get("host") or self.ip,
                                                      self._port(c, g.get("port")),
                                                      timeout=max(0.1, left()))
                    try:
                        conn.request("GET", g.get("path", "/"))
                        conn.getresponse().read()
                    finally:
                        conn.close()
            except (OSError, subprocess.SubprocessError, http.client.HTTPException, ValueError,
                    RuntimeError) as e:
                print("kubelet: preStop hook of %s/%s: %s" % (self.name, name, e), flush=True)
            if self.kill_now.is_set():
                return

    def _kill_all(self, sig, grace):
        live = [p for p in self.procs.values() if p.poll() is None]
        for p in live:
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
        deadline = time.time() + (grace or 0)
        for p in live:
            try:
                p.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()

    def _reap(self):
        changed = False
        for name, p in self.procs.items():
            if name in self.terminated:
                continue
            rc = p.poll()
            if rc is None:
                continue
            code = rc if rc >= 0 else 128 - rc
            st = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                  "startedAt": self.started_at.get(name), "finishedAt": now_rfc3339(),
                  "containerID": "process://%d" % p.pid}
            if rc < 0:
                st["signal"] = -rc
            self.terminated[name] = st
            self.ready[name] = False
            changed = True
        return changed

    def _probe(self):
        changed = False
        now = time.time()
        for c in self.pod["spec"].get("containers") or []:
            name = c["name"]
            if name in self.terminated or name not in self.procs:
                continue
            for kind in ("readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if not probe:
                    if kind == "readinessProbe" and not self.ready.get(name):
                        self.ready[name] = True
                        changed = True
                    continue
                st = self.probe_state.setdefault(
                    (name, kind), [now + probe.get("initialDelaySeconds", 0), 0, 0])
                if now < st[0]:
                    continue
                st[0] = now + probe.get("periodSeconds", 10)
                ok = self._run_probe(c, probe)
                if ok:
                    st[1], st[2] = 0, st[2] + 1
                else:
                    st[1], st[2] = st[1] + 1, 0
                if kind == "readinessProbe":
                    if ok and st[2] >= probe.get("successThreshold", 1) and not self.ready.get(name):
                        self.ready[name] = True
                        changed = True
                    elif not ok and st[1] >= probe.get("failureThreshold", 3) and \
                            self.ready.get(name, False):
                        self.ready[name] = False
                        changed = True
                elif not ok and st[1] >= probe.get("failureThreshold", 3):
                    try:
                        os.killpg(self.procs[name].pid, signal.SIGKILL)
                    except OSError:
                        pass
        return changed

    def _port(self, c, port):
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in c.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        return 0

    def _run_probe(self, c, probe):
        timeout = probe.get("timeoutSeconds", 1)
        try:
            if "httpGet" in probe:
                g = probe["httpGet"]
                conn = http.client.HTTPConnection(g.get("host") or self.ip,
                                                  self._port(c, g.get("port")), timeout=timeout)
                try:
                    conn.request("GET", g.get("path", "/"),
                                 headers={h["name"]: h["value"] for h in g.get("httpHeaders") or []})
                    return 200 <= conn.getresponse().status < 400
                finally:
                    conn.close()
            if "tcpSocket" in probe:
                t = probe["tcpSocket"]
                with socket.create_connection((t.get("host") or self.ip,
                                               self._port(c, t.get("port"))), timeout=timeout):
                    return True
            if "exec" in probe:
                r = subprocess.run(probe["exec"].get("command") or ["false"], timeout=timeout,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=self._env(c))
                return r.returncode == 0
        except (OSError, subprocess.SubprocessError, http.client.HTTPException, ValueError,
                RuntimeError):
            return False
        return False

    # --- status -----------------------------------------------------------------------

    def _write_status(self):
        containers = self.pod["spec"].get("containers") or []
        statuses = []
        for c in containers:
            name = c["name"]
            cs = {"name": name, "image": c.get("image", ""), "imageID": "",
                  "restartCount": 0, "ready": False, "started": False}
            if name in self.terminated:
                cs["state"] = {"terminated": self.terminated[name]}
                cs["containerID"] = self.terminated[name].get("containerID", "")
            elif name in self.procs:
                cs["state"] = {"running": {"startedAt": self.started_at[name]}}
                cs["ready"] = bool(self.ready.get(name))
                cs["started"] = True
                cs["containerID"] = "process://%d" % self.procs[name].pid
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        if self.terminated:
            phase = "Succeeded" if all(t.get("exitCode") == 0 for t in self.terminated.values()) \
                and len(self.terminated) == len(containers) else "Failed"
        else:
            phase = "Running" if self.procs else "Pending"
        self.k.update_pod_status(self, phase, statuses, all_ready)

    def describe(self):
        return {"namespace": self.ns, "name": self.name, "ip": self.ip,
                "pids": {n: p.pid for n, p in self.procs.items()},
                "terminated": {n: t.get("exitCode") for n, t in self.terminated.items()},
                "ready": dict(self.ready)}


try:  # resolved here: the child between fork and exec must not import or allocate
    import ctypes
    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent():
    """PR_SET_PDEATHSIG: the process gets SIGKILL when the thread that started it (its
    PodWorker) or the double dies, even by SIGKILL, so no pod process outlives it."""
    if _PRCTL is not None:
        _PRCTL(1, 9)


def _expand(s, env):
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def _select_items(files, items):
    if not items:
        return files
    return {i.get("path", i["key"]): files[i["key"]] for i in items if i["key"] in files}


class Kubelet:
    """Runs the Deployment controller and the pods' processes (--run-pods)."""

    def __init__(self, store, registry, pod_dir=None, replace_delay=1.0, tick=0.2):
        self.store = store
        self.registry = registry
        self.pod_t = registry.lookup("", "v1", "pods")
        self.pod_dir = pod_dir or tempfile.mkdtemp(prefix="usp-apiserver-pods-")
        self._own_dir = pod_dir is None
        self.replace_delay = replace_delay
        self.tick = tick
        self.ips = IpPool()
        self.workers = {}  # uid -> PodWorker
        self.lock = threading.Lock()
        self.deployments = DeploymentController(store, registry, NODE_NAME)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        store.graceful_delete = self._graceful
        store.listeners.append(lambda key, *a: self._wake.set()
                               if key in ("/pods", "apps/deployments") else None)
        self.thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def start(self):
        self.thread.start()

    def _graceful(self, rtype, obj, options):
        if rtype.kind != "Pod" or rtype.group:
            return False
        with self.lock:
            w = self.workers.get(obj["metadata"]["uid"])
        return w is not None and not w.terminated

    def _run(self):
        while not self.stopping.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            try:
                self.deployments.sync_all()
                self._sync_pods()
            except Exception as e:
                import sys
                import traceback
                print("kubelet: sync failed: %s" % e, file=sys.stderr)
                traceback.print_exc()

    def _sync_pods(self):
        pods, _ = self.store.list(self.pod_t)
        live = {p["metadata"]["uid"]: p for p in pods}
        with self.lock:
            workers = dict(self.workers)
        for uid, w in workers.items():
            p = live.get(uid)
            if p is None:
                w.request_stop(0)
            elif p["metadata"].get("deletionTimestamp"):
                w.request_stop(p["metadata"].get("deletionGracePeriodSeconds") or 0)
        for uid, p in live.items():
            if uid in workers or p["metadata"].get("deletionTimestamp"):
                continue
            if (p.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                continue
            node = (p.get("spec") or {}).get("nodeName")
            if node and node != NODE_NAME:
                continue
            with self.lock:
                if self.stopping.is_set():
                    return
                w = PodWorker(self, p)
                self.workers[uid] = w
            w.start()

    def finished(self, w):
        """Called by a worker after its processes are gone."""
        with self.lock:
            self.workers.pop(w.uid, None)
        if not self.stopping.is_set():
            self.store.remove_now(self.pod_t, w.ns, w.name, w.uid)

    def delete_pod(self, ns, name, uid):
        try:
            self.store.delete(self.pod_t, ns, name, {"preconditions": {"uid": uid}})
        except ApiError:
            pass

    def update_pod_status(self, w, phase, statuses, ready):
        with self.store.lock:
            try:
                cur = self.store.get(self.pod_t, w.ns, w.name)
            except ApiError:
                return
            if cur["metadata"]["uid"] != w.uid:
                return
            st = copy.deepcopy(cur.get("status") or {})
            conds = {c["type"]: c for c in st.get("conditions") or []}
            want = {"PodScheduled": "True", "Initialized": "True",
                    "ContainersReady": "True" if ready else "False",
                    "Ready": "True" if ready else "False"}
            out = []
            for t, s in want.items():
                c = conds.get(t)
                if not c or c.get("status") != s:
                    c = {"type": t, "status": s, "lastProbeTime": None,
                         "lastTransitionTime": now_rfc3339()}
                out.append(c)
            st.update({"phase": phase, "conditions": out, "containerStatuses": statuses,
                       "podIP": w.ip, "podIPs": [{"ip": w.ip}], "hostIP": "127.0.0.1",
                       "hostIPs": [{"ip": "127.0.0.1"}], "startTime": w.start_time})
            cur["status"] = st
            spec = cur.setdefault("spec", {})
            if not spec.get("nodeName"):  # the scheduler's binding, folded in
                spec["nodeName"] = NODE_NAME
                cur = self.store.update(self.pod_t, w.ns, w.name, cur, internal=True)
                cur["status"] = st
            try:
                self.store.update(self.pod_t, w.ns, w.name, cur, subresource="status")
            except ApiError:
                pass

    def read_log(self, ns, name, container):
        d = os.path.join(self.pod_dir, "%s_%s" % (ns, name))
        if not os.path.isdir(d):
            return ""
        logs = sorted(f for f in os.listdir(d) if f.endswith(".log"))
        if container:
            logs = [f for f in logs if f == container + ".log"]
            if not logs:
                return None
        if not logs:
            return ""
        with open(os.path.join(d, logs[0]), errors="replace") as f:
            return f.read()

    def describe(self):
        with self.lock:
            return [w.describe() for w in self.workers.values()]

    def shutdown(self):
        with self.lock:
            self.stopping.set()
            workers = list(self.workers.values())
        for w in workers:
            w.request_stop(0)
        for w in workers:
            w._kill_all(signal.SIGTERM, 1.0)
        if self._own_dir:
            shutil.rmtree(self.pod_dir, ignore_errors=True)
