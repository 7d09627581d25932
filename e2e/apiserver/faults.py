"""Fault injection, configured by tests through POST /_double/faults.

Body fields (all optional, combinable):
  {"watch_gone_next": N}      next N watch requests get a 410 Expired ERROR event
  {"drop_watches": true}      end every open watch stream now (clean chunked end);
                              "reset" aborts the TCP connections instead
  {"expire_watches": true}    send a 410 Expired ERROR event on every open watch, then end it
  {"fail_next": {"verb": "PUT", "code": 500, "count": 2,
                 "resource": "usersignals", "subresource": "status"}}
                              the next `count` matching requests fail with `code`
                              (a list of such rules is accepted too)
  {"conflict_next": {"verb": "PUT", "count": 1}}   same as fail_next with code 409
  {"compact": true}           drop the watch history: older resourceVersions become 410
  {"clear": true}             remove all pending faults
verb matches an HTTP method (GET, POST, PUT, PATCH, DELETE) or an API verb
(get, list, watch, create, update, patch, delete, deletecollection); "*" matches all.
"""

import threading

from errors import ApiError, REASONS


class Faults:
    def __init__(self, store):
        self.store = store
        self.lock = threading.Lock()
        self.watch_gone_next = 0
        self.rules = []

    def snapshot(self):
        with self.lock:
            return {"watch_gone_next": self.watch_gone_next,
                    "fail_next": [dict(r) for r in self.rules],
                    "open_watches": len(self.store.watchers)}

    def configure(self, body):
        result = {}
        with self.lock:
            if body.get("clear"):
                self.watch_gone_next = 0
                self.rules = []
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
                                   "message": r.get("message")})
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

    def check(self, method, verb, resource, subresource):
        """Raises the injected ApiError if a rule matches this request."""
        with self.lock:
            for r in self.rules:
                v = r["verb"]
                if v != "*" and v.upper() != method and v != verb:
                    continue
                if r["resource"] and r["resource"] != resource:
                    continue
                if r["subresource"] and r["subresource"] != subresource:
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
                raise ApiError(code, msg, reason=REASONS.get(code, "InternalError"),
                               details={"kind": resource or ""})
