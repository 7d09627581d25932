"""Fault injection, configured by tests through POST /_double/faults.

Body fields (all optional, combinable):
  {"watch_gone_next": N}      next N watch requests get a 410 Expired ERROR event
  {"drop_watches": true}      end every open watch stream now (clean chunked end);
                              "reset" aborts the TCP connections instead
  {"expire_watches": true}    send a 410 Expired ERROR event on every open watch, then end it
  {"fail_next": {"verb": "PUT", "code": 500, "count": 2,
                 "resource": "usersignals", "subresource": "status"}}
                              the next `count` matching requests fail with `code`
                              (a list of such rules is accepted too; "subresource": ""
                              matches the resource itself only, no field: any)
                              "after": true carries the request out first and then answers
                              the error, as a real server whose storage committed but whose
                              answer timed out (a POST retried then meets 409 AlreadyExists)
  {"conflict_next": {"verb": "PUT", "count": 1}}   same as fail_next with code 409
  {"delay_next": {"verb": "create", "ms": 200, "count": 10, "resource": "deployments"}}
                              the next `count` matching requests wait `ms` before being
                              served (count -1: until cleared); a list is accepted too
  {"compact": true}           drop the watch history: older resourceVersions become 410
  {"clear": true}             remove all pending faults
verb matches an HTTP method (GET, POST, PUT, PATCH, DELETE) or an API verb
(get, list, watch, create, update, patch, delete, deletecollection); "*" matches all.

Every API request (not the /_double/ ones) is also appended to a bounded request
log, GET /_double/requests?since=SEQ: {"next": SEQ, "requests": [{"seq", "method",
"verb", "resource", "subresource", "namespace", "name", "agent", "fault"}]}, so a
test can act right after a client's Nth write.
"""

import collections
import threading
import time

from errors import ApiError, REASONS


class Faults:
    def __init__(self, store):
        self.store = store
        self.lock = threading.Lock()
        self.watch_gone_next = 0
        self.rules = []
        self.delays = []
        self.log = collections.deque(maxlen=20000)
        self.seq = 0

    def snapshot(self):
        with self.lock:
            return {"watch_gone_next": self.watch_gone_next,
                    "fail_next": [dict(r) for r in self.rules],
                    "delay_next": [dict(r) for r in self.delays],
                    "open_watches": len(self.store.watchers),
                    "requests": self.seq}

    def requests(self, since=0):
        """The logged requests with seq >= since (the oldest may have been dropped)."""
        with self.lock:
            return {"next": self.seq + 1, "requests": [dict(e) for e in self.log if e["seq"] >= since]}

    def configure(self, body):
        result = {}
        with self.lock:
            if body.get("clear"):
                self.watch_gone_next = 0
                self.rules = []
                self.delays = []
            if "watch_gone_next" in body:
                self.watch_gone_next = int(body["watch_gone_next"])
            rules = body.get("fail_next") or []
            if isinstance(rules, dict):
                rules = [rules]
            cn = body.get("conflict_next")
            if cn:
                rules = list(rules) + [dict(cn, code=409)]
            for r in rules:
                self.rules.append({"verb": r.get("verb", "*"), "code": int(r.get("code", 500)),
                                   "count": int(r.get("count", 1)),
                                   "resource": r.get("resource"),
                                   "subresource": r.get("subresource"),
                                   "message": r.get("message"),
                                   "after": bool(r.get("after", False))})
            delays = body.get("delay_next") or []
            if isinstance(delays, dict):
                delays = [delays]
            for r in delays:
                self.delays.append({"verb": r.get("verb", "*"), "ms": int(r.get("ms", 100)),
                                    "count": int(r.get("count", 1)),
                                    "resource": r.get("resource"),
                                    "subresource": r.get("subresource")})
        if body.get("compact"):
            self.store.compact()
        from store import CLOSE, RESET
        if body.get("expire_watches"):
            result["expired_watches"] = self.store.end_watches(CLOSE, status={
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "reason": "Expired", "code": 410,
                "message": "too old resource version (injected)"})
        if body.get("drop_watches"):
            sentinel = RESET if body["drop_watches"] == "reset" else CLOSE
            result["dropped_watches"] = self.store.end_watches(sentinel)
        result.update(self.snapshot())
        return result

    def take_watch_gone(self):
        with self.lock:
            if self.watch_gone_next > 0:
                self.watch_gone_next -= 1
                return True
            return False

    @staticmethod
    def _matches(r, method, verb, resource, subresource):
        v = r["verb"]
        if v != "*" and v.upper() != method and v != verb:
            return False
        if r["resource"] and r["resource"] != resource:
            return False
        # None: any; "": the resource itself only; "status": that subresource only
        if r["subresource"] is not None and r["subresource"] != (subresource or ""):
            return False
        return True

    def check(self, method, verb, resource, subresource, namespace="", name="", agent=""):
        """Logs the request, waits out a matching delay, then raises the injected
        ApiError if a fail rule matches, or returns it when the rule is `after`:
        the caller carries the request out and answers that error instead."""
        delay_ms = 0
        error = None
        after = False
        with self.lock:
            self.seq += 1
            entry = {"seq": self.seq, "method": method, "verb": verb, "resource": resource,
                     "subresource": subresource or "", "namespace": namespace or "",
                     "name": name or "", "agent": agent or "", "fault": ""}
            self.log.append(entry)
            for r in self.delays:
                if not self._matches(r, method, verb, resource, subresource):
                    continue
                delay_ms = r["ms"]
                if r["count"] > 0:
                    r["count"] -= 1
                    if r["count"] == 0:
                        self.delays.remove(r)
                break
            for r in self.rules:
                if not self._matches(r, method, verb, resource, subresource):
                    continue
                r["count"] -= 1
                if r["count"] <= 0:
                    self.rules.remove(r)
                code = r["code"]
                if code == 409:
                    msg = r["message"] or ('Operation cannot be fulfilled on %s: the object has '
                                           'been modified; please apply your changes to the '
                                           'latest version and try again (injected)' % resource)
                else:
                    msg = r["message"] or "injected failure (%d)" % code
                error = ApiError(code, msg, reason=REASONS.get(code, "InternalError"),
                                 details={"kind": resource or ""})
                after = r["after"]
                entry["fault"] = "%d%s" % (code, " after" if after else "")
                break
            if delay_ms:
                entry["fault"] = (entry["fault"] + " " if entry["fault"] else "") + "delay %dms" % delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if error is not None and not after:
            raise error
        return error
