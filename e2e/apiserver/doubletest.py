"""Test helpers: start the double as a subprocess and talk to it over HTTPS."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "usp-e2e-token"


class Double:
    def __init__(self, *extra_args):
        self.dir = tempfile.mkdtemp(prefix="usp-apiserver-test-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        port_file = os.path.join(self.dir, "port")
        log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "apiserver.py"), "--port", "0",
             "--port-file", port_file, "--kubeconfig-out", self.kubeconfig,
             "--tls-dir", os.path.join(self.dir, "tls"), "--token", TOKEN] + list(extra_args),
            stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        deadline = time.time() + 60  # TLS key generation and imports are slow under load
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("apiserver double did not start: " + self.log())
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "tls.crt"))

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json", token=TOKEN,
                accept="application/json"):
        c = self.conn()
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = ctype
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw.decode()

    def control(self, body):
        return self.request("POST", "/_double/faults", body)[1]

    def watch(self, path, timeout=10):
        """Opens a watch; returns an iterator of decoded events (None on stream end)."""
        c = self.conn(timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        if r.status != 200:
            raise AssertionError("watch %s -> %d %s" % (path, r.status, r.read()))
        return WatchStream(c, r)


class WatchStream:
    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp

    def next(self):
        line = self.resp.readline()
        if not line:
            return None
        return json.loads(line)

    def close(self):
        self.conn.close()


def wait_for(pred, timeout=30, interval=0.05, what="condition"):
    """pred's first truthy value; AssertionError after timeout seconds.

    The default is generous: a condition that should become true costs only the time
    it takes, and a sanitizer build beside another test (2 cores) makes every kubectl
    call and pod start several times slower than on an idle machine.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)

