"""Background controllers of the control plane that are not kind-specific:

- garbage collection by ownerReferences: an object none of whose owners exist
  any more is deleted (background propagation); `foregroundDeletion` and
  `orphan` finalizers are processed as the real garbage collector does;
- namespace termination: a deleted namespace's contents are deleted, then it;
- CRD cleanup: a deleted CRD's custom resources are deleted, then the CRD's
  `customresourcecleanup` finalizer is removed and its kinds unregistered.
"""

import copy
import threading

from errors import ApiError
from kinds import CRD_CLEANUP_FINALIZER


class GarbageCollector:
    def __init__(self, store, registry, interval=0.2):
        self.store = store
        self.registry = registry
        self.interval = interval
        self._stop = threading.Event()
        self._dirty = threading.Event()
        store.listeners.append(self._on_event)
        self.thread = threading.Thread(target=self._run, name="gc", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self._stop.set()
        self._dirty.set()

    def _on_event(self, key, etype, obj, old):
        if key == "apiextensions.k8s.io/customresourcedefinitions":
            if etype == "DELETED":
                self.registry.unregister_crd(obj["metadata"]["name"])
            else:
                self.registry.register_crd(obj)
        if etype == "DELETED" or obj["metadata"].get("deletionTimestamp"):
            self._dirty.set()

    def _run(self):
        while not self._stop.is_set():
            self._dirty.wait(self.interval * 5)
            self._dirty.clear()
            try:
                self.sweep()
            except Exception as e:  # keep the collector alive; report why
                import sys
                import traceback
                print("gc: sweep failed: %s" % e, file=sys.stderr)
                traceback.print_exc()

    def _rtype(self, obj):
        return self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", "")) or \
            self.registry.by_key(obj.get("_key", ""))

    def _delete(self, obj, policy="Background"):
        rt = self._rtype(obj)
        if rt is None:
            return
        md = obj["metadata"]
        try:
            self.store.delete(rt, md.get("namespace", ""), md["name"],
                              {"propagationPolicy": policy})
        except ApiError:
            pass

    def _set_finalizers(self, obj, fins):
        rt = self._rtype(obj)
        if rt is None:
            return
        md = obj["metadata"]
        try:
            cur = self.store.get(rt, md.get("namespace", ""), md["name"])
        except ApiError:
            return
        new = copy.deepcopy(cur)
        new["metadata"]["finalizers"] = fins
        if not fins:
            del new["metadata"]["finalizers"]
        try:
            self.store.update(rt, md.get("namespace", ""), md["name"], new, internal=True)
        except ApiError:
            pass

    def sweep(self):
        objs = self.store.all_objects()
        uids = {o["metadata"]["uid"]: o for o in objs}
        dependents = {}
        for o in objs:
            for ref in o["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid"), []).append(o)
        for o in objs:
            md = o["metadata"]
            refs = md.get("ownerReferences") or []
            # background: owners all gone -> delete the dependent
            if refs and not md.get("deletionTimestamp") and \
                    not any(r.get("uid") in uids for r in refs):
                self._delete(o)
                continue
            if not md.get("deletionTimestamp"):
                continue
            fins = list(md.get("finalizers") or [])
            deps = dependents.get(md["uid"], [])
            if "orphan" in fins:
                for d in deps:
                    self._drop_owner_ref(d, md["uid"])
                self._set_finalizers(o, [f for f in fins if f != "orphan"])
            elif "foregroundDeletion" in fins:
                live = [d for d in deps if d["metadata"]["uid"] in uids]
                if live:
                    for d in live:
                        if not d["metadata"].get("deletionTimestamp"):
                            self._delete(d, "Foreground")
                else:
                    self._set_finalizers(o, [f for f in fins if f != "foregroundDeletion"])
            if o.get("kind") == "Namespace" and not o.get("apiVersion", "v1").count("/"):
                self._terminate_namespace(o, objs)
            if o.get("kind") == "CustomResourceDefinition" and CRD_CLEANUP_FINALIZER in fins:
                self._cleanup_crd(o, objs, fins)

    def _drop_owner_ref(self, dep, uid):
        rt = self._rtype(dep)
        if rt is None:
            return
        new = copy.deepcopy(dep)
        new["metadata"]["ownerReferences"] = [
            r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        md = dep["metadata"]
        try:
            self.store.update(rt, md.get("namespace", ""), md["name"], new, internal=True)
        except ApiError:
            pass

    def _terminate_namespace(self, ns, objs):
        name = ns["metadata"]["name"]
        contents = [o for o in objs if o["metadata"].get("namespace") == name]
        for o in contents:
            if not o["metadata"].get("deletionTimestamp"):
                self._delete(o)
        if not contents and not ns["metadata"].get("finalizers"):
            rt = self.registry.lookup("", "v1", "namespaces")
            self.store.remove_now(rt, "", name, ns["metadata"]["uid"])

    def _cleanup_crd(self, crd, objs, fins):
        spec = crd.get("spec", {})
        group, plural = spec.get("group"), spec.get("names", {}).get("plural")
        key = "%s/%s" % (group, plural)
        remaining = []
        for t in self.registry.all_types():
            if t.key == key:
                items, _ = self.store.list(t)
                remaining = items
                break
        for o in remaining:
            if not o["metadata"].get("deletionTimestamp"):
                self._delete(o)
        if not remaining:
            self._set_finalizers(crd, [f for f in fins if f != CRD_CLEANUP_FINALIZER])
