#!/usr/bin/env python3
"""A Kubernetes API server test double for USP's operator and kubectl.

Usage:
  python3 e2e/apiserver/apiserver.py --port 0 --port-file F --kubeconfig-out K [--run-pods]

See README.md in this folder for the supported API surface and the
/_double/ control endpoints.
"""

import argparse
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import patch as patches  # noqa: E402
import tables  # noqa: E402
from collector import GarbageCollector  # noqa: E402
from errors import ApiError, bad_request, success_status  # noqa: E402
from faults import Faults  # noqa: E402
from k8s_selectors import parse_field_selector, parse_label_selector  # noqa: E402
from registry import Registry  # noqa: E402
from store import CLOSE, RESET, Store  # noqa: E402

DEFAULT_TOKEN = "usp-e2e-token"
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-usp-double",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"}


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, opts):
        super().__init__(addr, Handler)
        self.opts = opts
        self.token = opts.token
        self.registry = Registry()
        self.store = Store(self.registry, history_limit=opts.history_size)
        self.faults = Faults(self.store)
        self.gc = GarbageCollector(self.store, self.registry)
        self.kubelet = None
        ns = self.registry.lookup("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(ns, "", {"metadata": {"name": name}})
        self.gc.start()


def _accepts_table(accept):
    return "as=Table" in (accept or "")


def _query_bool(q, name):
    return q.get(name, [""])[0] in ("true", "1", "True")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "usp-apiserver-double/1"

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("apiserver: %s\n" % (fmt % args))

    # --- plumbing -------------------------------------------------------------

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj, extra_headers=None):
        err = getattr(self, "_after_error", None)
        if err is not None and code < 300:  # an injected "after" fault: done, but answered an error
            self._after_error = None
            code, obj = err.code, err.status()
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(id(self)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code, text, ctype="text/plain"):
        data = text.encode() if isinstance(text, str) else text
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        self._after_error = None
        try:
            raw = self._read_body()
            url = urlparse(self.path)
            q = parse_qs(url.query, keep_blank_values=True)
            path = url.path.rstrip("/") or "/"
            if path.startswith("/_double"):
                return self.control(method, path, raw, q)
            if path in ("/healthz", "/readyz", "/livez"):
                return self.send_text(200, "ok")
            if path == "/openapi/v2":  # kubectl falls back to /openapi/v3
                raise ApiError(404, "the server could not find the requested resource")
            auth = self.headers.get("Authorization", "")
            if auth != "Bearer " + self.server.token and not (
                    self.server.opts.http and not auth):
                raise ApiError(401, "Unauthorized")
            accept = self.headers.get("Accept", "")
            if "protobuf" in accept and "json" not in accept and "*/*" not in accept:
                raise ApiError(406, "only application/json is served")
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise bad_request("the body of the request was in an unknown format - "
                                      "accepted media types include: application/json")
            self.route(method, path, q, body, accept)
        except ApiError as e:
            self.send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            # The client went away (e.g. killed) before its answer was written.
            self.close_connection = True
        except Exception as e:
            traceback.print_exc()
            self.send_json(500, ApiError(500, "internal error: %s" % e).status())

    # --- control endpoints ----------------------------------------------------------

    def control(self, method, path, raw, q):
        body = json.loads(raw) if raw else {}
        if path == "/_double/requests":
            return self.send_json(200, self.server.faults.requests(int(q.get("since", ["0"])[0] or 0)))
        if path == "/_double/faults":
            if method == "POST":
                return self.send_json(200, self.server.faults.configure(body))
            if method == "DELETE":
                return self.send_json(200, self.server.faults.configure({"clear": True}))
            return self.send_json(200, self.server.faults.snapshot())
        if path == "/_double/state":
            st = self.server.store
            with st.lock:
                state = {"resourceVersion": str(st.rv), "compactedResourceVersion":
                         str(st.compacted_rv), "objects": len(st.objects),
                         "watches": [{"resource": w.rtype.group_resource,
                                      "namespace": w.namespace, "since": w.opened}
                                     for w in st.watchers]}
            if self.server.kubelet:
                state["pods"] = self.server.kubelet.describe()
            return self.send_json(200, state)
        if path == "/_double/compact" and method == "POST":
            self.server.store.compact()
            return self.send_json(200, {"compacted": str(self.server.store.rv)})
        self.send_json(404, ApiError(404, "unknown control endpoint").status())

    # --- routing ---------------------------------------------------------------------

    def route(self, method, path, q, body, accept):
        reg = self.server.registry
        if path == "/version":
            return self.send_json(200, VERSION)
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{
                                            "clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "%s:%d" % self.server.server_address}]})
        if path == "/apis":
            return self.send_json(200, reg.api_group_list())
        if path == "/openapi/v3":
            return self.send_json(200, reg.openapi_root())
        if path.startswith("/openapi/v3/"):
            return self.send_json(200, reg.openapi_group_version(path[len("/openapi/v3/"):]))
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 2:
            if len(segs) == 2:
                versions = reg.group_versions().get(segs[1])
                if not versions:
                    raise ApiError(404, "the server could not find the requested resource")
                g = [x for x in reg.api_group_list()["groups"] if x["name"] == segs[1]][0]
                return self.send_json(200, dict(g, kind="APIGroup", apiVersion="v1"))
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            rl = reg.resource_list(group, version)
            if rl is None:
                raise ApiError(404, "the server could not find the requested resource")
            return self.send_json(200, rl)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (
                len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), \
            (rest[2] if len(rest) > 2 else None)
        if len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        rtype = reg.lookup(group, version, plural)
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise ApiError(404, "the server could not find the requested resource")
        if sub and sub not in ("status", "scale", "log", "finalize") or \
                (sub == "status" and not rtype.status) or (sub == "scale" and not rtype.scale) or \
                (sub == "log" and rtype.kind != "Pod"):
            raise ApiError(404, "the server could not find the requested resource")
        if rtype.namespaced and name and namespace is None:
            raise ApiError(404, "the server could not find the requested resource")
        self.resource(method, rtype, namespace or "", name, sub, q, body, accept)

    # --- resources ---------------------------------------------------------------------

    def resource(self, method, rtype, ns, name, sub, q, body, accept):
        store = self.server.store
        watch = _query_bool(q, "watch")
        verb = {"GET": "get" if name else ("watch" if watch else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]
        logged_name = name or ((body.get("metadata") or {}).get("name", "")
                               if isinstance(body, dict) and isinstance(body.get("metadata"), dict)
                               else "")
        self._after_error = self.server.faults.check(method, verb, rtype.plural, sub, ns, logged_name,
                                                     self.headers.get("User-Agent", ""))
        dry_run = "All" in q.get("dryRun", [])
        strict = q.get("fieldValidation", [""])[0] == "Strict"
        lmatch = parse_label_selector(q.get("labelSelector", [""])[0])
        fmatch = parse_field_selector(q.get("fieldSelector", [""])[0])
        table = _accepts_table(accept)
        include = q.get("includeObject", ["Metadata"])[0]
        if verb == "watch":
            return self.stream_watch(rtype, ns, lmatch, fmatch, q, table)
        if verb == "list":
            items, rv = store.list(rtype, ns, lmatch, fmatch)
            cont = None
            limit = int(q.get("limit", ["0"])[0] or 0)
            start = 0
            if q.get("continue", [""])[0]:
                try:
                    start = int(base64.b64decode(q["continue"][0]).decode())
                except ValueError:
                    raise bad_request("invalid continue token")
            remaining = None
            if limit > 0 and start + limit < len(items):
                cont = base64.b64encode(str(start + limit).encode()).decode()
                remaining = len(items) - start - limit
                items = items[start:start + limit]
            else:
                items = items[start:]
            if table:
                return self.send_json(200, tables.to_table(rtype, items, rv, include, cont))
            md = {"resourceVersion": rv}
            if cont:
                md["continue"] = cont
                md["remainingItemCount"] = remaining
            return self.send_json(200, {"kind": rtype.kind + "List",
                                        "apiVersion": rtype.api_version,
                                        "metadata": md, "items": items})
        if sub == "log":
            return self.pod_log(rtype, ns, name, q)
        if sub == "scale":
            return self.scale(method, rtype, ns, name, body, dry_run)
        if verb == "get":
            obj = store.get(rtype, ns, name)
            if table:
                return self.send_json(200, tables.to_table(
                    rtype, [obj], obj["metadata"]["resourceVersion"], include))
            return self.send_json(200, obj)
        if verb == "create":
            if name:
                raise ApiError(405, "the server does not allow this method on the "
                                    "requested resource")
            obj = store.create(rtype, ns, body, dry_run=dry_run, strict=strict)
            return self.send_json(201, obj)
        if verb == "update":
            if body is None:
                raise bad_request("the body of the request is empty")
            obj = store.update(rtype, ns, name, body, subresource=sub, dry_run=dry_run,
                               strict=strict)
            return self.send_json(200, obj)
        if verb == "patch":
            obj, created = self.patch(rtype, ns, name, sub, body, dry_run, strict, q)
            return self.send_json(201 if created else 200, obj)
        if verb == "delete":
            opts = dict(body or {})
            for k in ("propagationPolicy", "gracePeriodSeconds"):
                if k in q:
                    opts[k] = q[k][0] if k == "propagationPolicy" else int(q[k][0])
            obj, removed = store.delete(rtype, ns, name, opts, dry_run=dry_run)
            return self.send_json(200, obj)
        if verb == "deletecollection":
            items, _ = store.list(rtype, ns, lmatch, fmatch)
            for it in items:
                try:
                    store.delete(rtype, it["metadata"].get("namespace", ""),
                                 it["metadata"]["name"], dict(body or {}), dry_run=dry_run)
                except ApiError:
                    pass
            return self.send_json(200, success_status())

    def patch(self, rtype, ns, name, sub, body, dry_run, strict, q):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        store = self.server.store
        if body is None:
            raise bad_request("the body of the request is empty")
        with store.lock:  # the read-modify-write is atomic, as in the real server
            try:
                cur = store.get(rtype, ns, name)
            except ApiError as e:
                if e.code == 404 and ctype == "application/apply-patch+yaml" and not sub:
                    if not q.get("fieldManager"):
                        raise ApiError(422, "PatchOptions.meta.k8s.io \"\" is invalid: "
                                            "fieldManager: Required value: is required for "
                                            "apply patch")
                    obj = dict(body)
                    obj.setdefault("metadata", {})["name"] = name
                    return store.create(rtype, ns, obj, dry_run=dry_run, strict=strict), True
                raise
            if ctype == "application/merge-patch+json":
                new = patches.merge_patch(cur, body)
            elif ctype == "application/json-patch+json":
                new = patches.json_patch(cur, body)
            elif ctype == "application/strategic-merge-patch+json":
                if rtype.schema is not None or rtype.crd_name:
                    raise ApiError(415, "strategic merge patch is not supported for custom "
                                        "resources; use merge patch or apply patch")
                new = patches.strategic_merge(cur, body)
            elif ctype == "application/apply-patch+yaml":
                new = patches.merge_patch(cur, body) if rtype.crd_name else \
                    patches.strategic_merge(cur, body)
            else:
                raise ApiError(415, "the body of the request was in an unknown format - "
                                    "accepted media types include: application/json-patch+json, "
                                    "application/merge-patch+json, application/apply-patch+yaml")
            if not isinstance(new, dict):
                raise bad_request("patch produced a non-object")
            return store.update(rtype, ns, name, new, subresource=sub, dry_run=dry_run,
                                strict=strict), False

    def scale(self, method, rtype, ns, name, body, dry_run):
        store = self.server.store
        spec_path = rtype.scale.get("specReplicasPath", ".spec.replicas").strip(".").split(".")
        status_path = rtype.scale.get("statusReplicasPath", ".status.replicas").strip(".").split(".")

        def dig(o, path):
            for p in path:
                o = o.get(p) if isinstance(o, dict) else None
            return o

        def as_scale(o):
            sel = (o.get("spec") or {}).get("selector") or {}
            sel = ",".join("%s=%s" % kv for kv in sorted((sel.get("matchLabels") or {}).items()))
            md = o["metadata"]
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                    "creationTimestamp") if k in md},
                    "spec": {"replicas": dig(o, spec_path) or 0},
                    "status": {"replicas": dig(o, status_path) or 0, "selector": sel}}

        with store.lock:
            cur = store.get(rtype, ns, name)
            if method == "GET":
                return self.send_json(200, as_scale(cur))
            sc = as_scale(cur)
            if method == "PUT":
                new_sc = body
            else:
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                new_sc = patches.json_patch(sc, body) if ctype == "application/json-patch+json" \
                    else patches.merge_patch(sc, body)
            want = (new_sc.get("metadata") or {}).get("resourceVersion")
            obj = json.loads(json.dumps(cur))
            if want:
                obj["metadata"]["resourceVersion"] = want
            tgt = obj
            for p in spec_path[:-1]:
                tgt = tgt.setdefault(p, {})
            tgt[spec_path[-1]] = int((new_sc.get("spec") or {}).get("replicas", 0))
            new = store.update(rtype, ns, name, obj, dry_run=dry_run)
            return self.send_json(200, as_scale(new))

    def pod_log(self, rtype, ns, name, q):
        self.server.store.get(rtype, ns, name)
        kubelet = self.server.kubelet
        text = kubelet.read_log(ns, name, q.get("container", [None])[0]) if kubelet else ""
        if text is None:
            raise bad_request('container not found in pod "%s"' % name)
        tail = q.get("tailLines", [None])[0]
        if tail:
            text = "".join(text.splitlines(True)[-int(tail):])
        return self.send_text(200, text)

    # --- watch ----------------------------------------------------------------------

    def stream_watch(self, rtype, ns, lmatch, fmatch, q, table):
        store = self.server.store
        timeout = q.get("timeoutSeconds", [None])[0]
        deadline = time.time() + float(timeout) if timeout else None
        bookmarks = _query_bool(q, "allowWatchBookmarks")
        interval = self.server.opts.bookmark_interval
        rv = q.get("resourceVersion", [None])[0]
        gone = None
        w = None
        if self.server.faults.take_watch_gone():
            gone = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "reason": "Expired", "code": 410,
                    "message": "too old resource version: %s (injected)" % rv}
        else:
            w, gone = store.watch(rtype, ns, lmatch, fmatch, rv)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(etype, obj):
            if etype not in ("ERROR", "BOOKMARK"):
                obj = dict(obj, apiVersion=rtype.api_version, kind=rtype.kind)
                if table:
                    obj = tables.to_table(rtype, [obj], obj["metadata"]["resourceVersion"],
                                          "Object")
            self._chunk(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

        try:
            if gone is not None:
                emit("ERROR", gone)
                w = None
            next_bookmark = time.time() + interval
            while w is not None:
                now = time.time()
                if deadline is not None and now >= deadline:
                    break
                wait = next_bookmark - now if bookmarks else 1.0
                if deadline is not None:
                    wait = min(wait, deadline - now)
                try:
                    item = w.queue.get(timeout=max(wait, 0.01))
                except Exception:
                    if bookmarks and time.time() >= next_bookmark:
                        brv = store.bookmark_rv(w)
                        if brv:
                            emit("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version,
                                              "metadata": {"resourceVersion": brv}})
                        next_bookmark = time.time() + interval
                    continue
                if item is CLOSE:
                    break
                if item is RESET:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                emit(*item)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return
        finally:
            if w is not None:
                store.unwatch(w)
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def make_certificate(tls_dir):
    """A self-signed serving certificate for 127.0.0.1/localhost (reused if present)."""
    os.makedirs(tls_dir, exist_ok=True)
    cert, key = os.path.join(tls_dir, "tls.crt"), os.path.join(tls_dir, "tls.key")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "3650", "-subj", "/CN=usp-apiserver-double",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def write_kubeconfig(path, server_url, token, ca_file=None, namespace="default"):
    ca = ""
    if ca_file:
        with open(ca_file, "rb") as f:
            ca = "\n    certificate-authority-data: " + base64.b64encode(f.read()).decode()
    text = """apiVersion: v1
kind: Config
clusters:
- name: usp-double
  cluster:
    server: %s%s
contexts:
- name: usp-double
  context:
    cluster: usp-double
    namespace: %s
    user: usp-double
current-context: usp-double
preferences: {}
users:
- name: usp-double
  user:
    token: %s
""" % (server_url, ca, namespace, token)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--kubeconfig-out", help="write a kubeconfig for this server here")
    ap.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token clients must send")
    ap.add_argument("--history-size", type=int, default=5000,
                    help="watch events retained; older resourceVersions get 410 Gone")
    ap.add_argument("--bookmark-interval", type=float, default=5.0,
                    help="seconds between BOOKMARK events on watches that allow them")
    ap.add_argument("--run-pods", action="store_true",
                    help="run the Deployment controller and the local-process kubelet")
    ap.add_argument("--pod-dir", help="where pods' logs and volumes go (default: a temp dir)")
    ap.add_argument("--http", action="store_true",
                    help="serve plain HTTP (kubectl sends no token over HTTP, so requests "
                         "without Authorization are then accepted)")
    ap.add_argument("--tls-dir", help="where tls.crt/tls.key live or are created")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    opts = ap.parse_args(argv)

    server = ApiServer((opts.host, opts.port), opts)
    port = server.server_address[1]
    if opts.run_pods:
        from kubelet import Kubelet
        server.kubelet = Kubelet(server.store, server.registry, pod_dir=opts.pod_dir)
        server.kubelet.start()
    ca_file = None
    if opts.http:
        url = "http://%s:%d" % (opts.host, port)
    else:
        cert, key = make_certificate(opts.tls_dir or tempfile.mkdtemp(prefix="usp-apiserver-tls-"))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        # The handshake runs lazily in the handler thread, not in the accept loop.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        url = "https://%s:%d" % (opts.host, port)
        ca_file = cert
    if opts.kubeconfig_out:
        write_kubeconfig(opts.kubeconfig_out, url, opts.token, ca_file)
    if opts.port_file:
        with open(opts.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(opts.port_file + ".tmp", opts.port_file)
    print("apiserver double listening on %s" % url, flush=True)

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if server.kubelet:
            server.kubelet.shutdown()
        server.gc.stop()
        server.store.end_watches()
    return 0


if __name__ == "__main__":
    sys.exit(main())
