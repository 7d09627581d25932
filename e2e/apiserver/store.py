"""The object store: CRUD with the API server's semantics, resourceVersions and
the watch event history.

Every write takes the single store lock, stamps the next global
resourceVersion, records an event in a bounded history and fans it out to open
watchers. Watching from a resourceVersion older than the retained history is
answered with 410 Expired, as etcd compaction makes the real server do.
"""

import collections
import copy
import queue
import random
import threading
import time
import uuid

import kinds
import schema as crschema
from errors import ApiError, already_exists, bad_request, conflict, invalid, not_found

CLOSE = object()  # queue sentinel: end the watch stream cleanly
RESET = object()  # queue sentinel: abort the connection


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Watcher:
    """One open watch: a filter and a queue of events for the HTTP handler."""

    def __init__(self, rtype, namespace, label_match, field_match):
        self.rtype = rtype
        self.namespace = namespace
        self.label_match = label_match
        self.field_match = field_match
        self.queue = queue.Queue()
        self.opened = time.time()

    def matches(self, obj):
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        return self.label_match(md.get("labels")) and self.field_match(obj)

    def offer(self, key, etype, obj, old):
        if key != self.rtype.key:
            return
        new_m = self.matches(obj)
        old_m = self.matches(old) if old is not None else False
        if etype == "ADDED" and new_m:
            self.queue.put(("ADDED", obj))
        elif etype == "MODIFIED":
            if new_m and old_m:
                self.queue.put(("MODIFIED", obj))
            elif new_m:
                self.queue.put(("ADDED", obj))
            elif old_m:
                self.queue.put(("DELETED", obj))
        elif etype == "DELETED" and new_m:
            self.queue.put(("DELETED", obj))


def strip_for_compare(obj, keep_status):
    o = copy.deepcopy(obj)
    md = o.get("metadata", {})
    for f in ("resourceVersion", "managedFields"):
        md.pop(f, None)
    if not keep_status:
        o.pop("status", None)
    return o


class Store:
    def __init__(self, registry, history_limit=5000):
        self.registry = registry
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1
        self.compacted_rv = 0
        self.objects = {}  # (key, namespace, name) -> object
        self.history = collections.deque()  # (rv, key, etype, obj, old)
        self.history_limit = history_limit
        self.watchers = set()
        self.listeners = []  # fn(key, etype, obj, old), called under the lock
        self.graceful_delete = None  # fn(rtype, obj) -> bool; set by the kubelet

    # --- internal ------------------------------------------------------------

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def _commit(self, rtype, etype, obj, old):
        md = obj["metadata"]
        k = (rtype.key, md.get("namespace", ""), md["name"])
        if etype == "DELETED":
            self.objects.pop(k, None)
        else:
            self.objects[k] = obj
        snap = copy.deepcopy(obj)
        self.history.append((self.rv, rtype.key, etype, snap, old))
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft()[0]
        for w in list(self.watchers):
            w.offer(rtype.key, etype, snap, old)
        for fn in self.listeners:
            fn(rtype.key, etype, snap, old)
        self.changed.notify_all()

    def _out(self, rtype, obj):
        o = copy.deepcopy(obj)
        o["apiVersion"] = rtype.api_version
        o["kind"] = rtype.kind
        return o

    def _key(self, rtype, namespace, name):
        return (rtype.key, namespace if rtype.namespaced else "", name)

    def compact(self):
        """Forget all history: every earlier resourceVersion becomes too old."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    # --- reads --------------------------------------------------------------------

    def get(self, rtype, namespace, name):
        with self.lock:
            obj = self.objects.get(self._key(rtype, namespace, name))
            if obj is None:
                raise not_found(rtype, name)
            return self._out(rtype, obj)

    def list(self, rtype, namespace=None, label_match=None, field_match=None):
        with self.lock:
            items = []
            for (key, ns, _), obj in sorted(self.objects.items()):
                if key != rtype.key or (namespace and ns != namespace):
                    continue
                if label_match and not label_match(obj["metadata"].get("labels")):
                    continue
                if field_match and not field_match(obj):
                    continue
                items.append(self._out(rtype, obj))
            return items, str(self.rv)

    def all_objects(self):
        with self.lock:
            return [copy.deepcopy(o) for o in self.objects.values()]

    # --- writes --------------------------------------------------------------------

    def _admit_cr(self, rtype, obj, strict, subresource=None):
        if not rtype.schema:
            return
        errs, unknown = crschema.admit(rtype.schema, obj, strict)
        if unknown and strict:
            raise ApiError(400, '%s in version "%s" cannot be handled as a %s: strict '
                           'decoding error: %s' % (rtype.kind, rtype.version, rtype.kind, ", ".join(
                               'unknown field "%s"' % u for u in unknown)))
        if errs:
            raise invalid(rtype, obj["metadata"].get("name"), errs)

    def _check_namespace(self, rtype, namespace):
        if not rtype.namespaced:
            return
        ns = self.objects.get(("/namespaces", "", namespace))
        if ns is None:
            raise ApiError(404, 'namespaces "%s" not found' % namespace,
                           details={"name": namespace, "kind": "namespaces"})
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "%s \"%s\" is forbidden: unable to create new content in "
                           "namespace %s because it is being terminated"
                           % (rtype.group_resource, "", namespace), reason="Forbidden")

    def create(self, rtype, namespace, body, dry_run=False, strict=False):
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        self._check_type(rtype, obj)
        md = obj.setdefault("metadata", {})
        if rtype.namespaced:
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            md["namespace"] = namespace or md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        with self.lock:
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + "".join(
                    random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            kinds.validate(rtype, obj)
            self._check_namespace(rtype, md.get("namespace"))
            if self._key(rtype, md.get("namespace"), md["name"]) in self.objects:
                raise already_exists(rtype, md["name"])
            for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                md.pop(f, None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            if rtype.generation:
                md["generation"] = 1
            if rtype.status and rtype.schema is not None:
                obj.pop("status", None)
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            kinds.prepare_create(rtype, obj)
            self._admit_cr(rtype, obj, strict)
            if dry_run:
                return self._out(rtype, obj)
            md["resourceVersion"] = self._next_rv()
            self._commit(rtype, "ADDED", obj, None)
            return self._out(rtype, obj)

    def _check_type(self, rtype, obj):
        if obj.get("kind") and obj["kind"] != rtype.kind:
            raise bad_request("the API version in the data (%s) does not match the expected "
                              "API version (%s)" % (obj.get("apiVersion"), rtype.api_version)
                              if obj.get("apiVersion") != rtype.api_version else
                              "kind %s does not match the expected kind %s"
                              % (obj["kind"], rtype.kind))
        if obj.get("apiVersion") and obj["apiVersion"] != rtype.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected "
                              "API version (%s)" % (obj["apiVersion"], rtype.api_version))

    def update(self, rtype, namespace, name, body, subresource=None, dry_run=False,
               strict=False, internal=False):
        """PUT semantics. subresource: None or "status". internal: kubelet/controllers
        writing status of any kind (skips the resourceVersion precondition if absent)."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        self._check_type(rtype, body)
        with self.lock:
            k = self._key(rtype, namespace, name)
            cur = self.objects.get(k)
            if cur is None:
                raise not_found(rtype, name)
            bmd = body.get("metadata") or {}
            if bmd.get("name") and bmd["name"] != name:
                raise bad_request("the name of the object (%s) does not match the name on "
                                  "the URL (%s)" % (bmd["name"], name))
            if rtype.namespaced and bmd.get("namespace") and bmd["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            want_rv = bmd.get("resourceVersion")
            if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            if subresource == "status":
                new = copy.deepcopy(cur)
                if "status" in body:
                    new["status"] = copy.deepcopy(body["status"])
                else:
                    new.pop("status", None)
            else:
                new = copy.deepcopy(body)
                md = new.setdefault("metadata", {})
                for f in ("uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"):
                    if f in cur["metadata"]:
                        md[f] = cur["metadata"][f]
                    else:
                        md.pop(f, None)
                md["name"] = name
                if rtype.namespaced:
                    md["namespace"] = namespace
                if rtype.status and not internal:
                    if "status" in cur:
                        new["status"] = copy.deepcopy(cur["status"])
                    else:
                        new.pop("status", None)
                if cur["metadata"].get("deletionTimestamp"):
                    added = set(md.get("finalizers") or []) - set(
                        cur["metadata"].get("finalizers") or [])
                    if added:
                        raise invalid(rtype, name, [("metadata.finalizers", "FieldValueForbidden",
                                                     "Forbidden: no new finalizers can be "
                                                     "added if the object is being deleted")])
                kinds.validate(rtype, new)
                kinds.prepare_update(rtype, new, cur)
            new["apiVersion"] = cur.get("apiVersion", rtype.api_version)
            new["kind"] = rtype.kind
            self._admit_cr(rtype, new, strict)
            if rtype.generation:
                keep_status = not rtype.status
                if strip_for_compare({**new, "metadata": {}}, keep_status) != \
                        strip_for_compare({**cur, "metadata": {}}, keep_status):
                    new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
            if strip_for_compare(new, True) == strip_for_compare(cur, True):
                return self._out(rtype, cur)  # no-op: no new resourceVersion, no event
            if dry_run:
                return self._out(rtype, new)
            new["metadata"]["resourceVersion"] = self._next_rv()
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                self._commit(rtype, "DELETED", new, cur)
            else:
                self._commit(rtype, "MODIFIED", new, cur)
            return self._out(rtype, new)

    def delete(self, rtype, namespace, name, options=None, dry_run=False):
        """Returns (object, removed_now)."""
        options = options or {}
        with self.lock:
            k = self._key(rtype, namespace, name)
            cur = self.objects.get(k)
            if cur is None:
                raise not_found(rtype, name)
            pre = options.get("preconditions") or {}
            md = cur["metadata"]
            if pre.get("uid") and pre["uid"] != md["uid"]:
                raise conflict(rtype, name, "Precondition failed: UID in precondition: %s, "
                               "UID in object meta: %s" % (pre["uid"], md["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != md["resourceVersion"]:
                raise conflict(rtype, name, "Precondition failed: ResourceVersion in "
                               "precondition: %s, ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], md["resourceVersion"]))
            policy = options.get("propagationPolicy")
            if policy is None and options.get("orphanDependents") is True:
                policy = "Orphan"
            if policy not in (None, "Background", "Foreground", "Orphan"):
                raise invalid(rtype, name, [("propagationPolicy", "FieldValueNotSupported",
                                             "Unsupported value: %r" % policy)])
            new = copy.deepcopy(cur)
            fins = new["metadata"].setdefault("finalizers", [])
            if policy == "Foreground" and "foregroundDeletion" not in fins:
                fins.append("foregroundDeletion")
            if policy == "Orphan" and "orphan" not in fins:
                fins.append("orphan")
            if not fins:
                del new["metadata"]["finalizers"]
            graceful = bool(fins)
            if not graceful and rtype.kind == "Namespace" and not rtype.group:
                graceful = True  # namespace contents are removed first (see gc.py)
            if not graceful and self.graceful_delete and options.get("gracePeriodSeconds") != 0:
                graceful = self.graceful_delete(rtype, cur, options)
            if dry_run:
                return self._out(rtype, cur), False
            if graceful:
                if md.get("deletionTimestamp") and new == cur:
                    return self._out(rtype, cur), False
                nmd = new["metadata"]
                nmd.setdefault("deletionTimestamp", now_rfc3339())
                grace = options.get("gracePeriodSeconds")
                if grace is None:
                    grace = (new.get("spec") or {}).get("terminationGracePeriodSeconds", 0) \
                        if rtype.kind == "Pod" else 0
                nmd.setdefault("deletionGracePeriodSeconds", grace)
                if rtype.kind == "Namespace" and not rtype.group:
                    new.setdefault("status", {})["phase"] = "Terminating"
                nmd["resourceVersion"] = self._next_rv()
                self._commit(rtype, "MODIFIED", new, cur)
                return self._out(rtype, new), False
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._commit(rtype, "DELETED", new, cur)
            return self._out(rtype, new), True

    def remove_now(self, rtype, namespace, name, uid=None):
        """Final removal by a controller (kubelet after kill, namespace cleanup)."""
        with self.lock:
            cur = self.objects.get(self._key(rtype, namespace, name))
            if cur is None or (uid and cur["metadata"]["uid"] != uid):
                return False
            new = copy.deepcopy(cur)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._commit(rtype, "DELETED", new, cur)
            return True

    # --- watch ------------------------------------------------------------------

    def watch(self, rtype, namespace, label_match, field_match, resource_version):
        """Registers a watcher; returns (watcher, expired_status_or_None)."""
        w = Watcher(rtype, namespace, label_match, field_match)
        with self.lock:
            if resource_version in (None, "", "0"):
                for (key, ns, _), obj in sorted(self.objects.items()):
                    if key == rtype.key and w.matches(obj):
                        w.queue.put(("ADDED", copy.deepcopy(obj)))
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise bad_request("invalid resource version: %r" % resource_version)
                if since < self.compacted_rv:
                    return None, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "reason": "Expired", "code": 410,
                                  "message": "too old resource version: %d (%d)"
                                  % (since, self.compacted_rv)}
                for rv, key, etype, obj, old in self.history:
                    if rv > since:
                        w.offer(key, etype, obj, old)
            self.watchers.add(w)
            return w, None

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def bookmark_rv(self, w):
        """The current resourceVersion if w has nothing pending, else None."""
        with self.lock:
            return str(self.rv) if w.queue.empty() else None

    def end_watches(self, sentinel=CLOSE, status=None):
        with self.lock:
            ws = list(self.watchers)
            self.watchers.clear()
        for w in ws:
            if status is not None:
                w.queue.put(("ERROR", status))
            w.queue.put(sentinel)
        return len(ws)
