"""The Deployment controller stand-in (ReplicaSets folded in).

Each Deployment owns its Pods directly (ownerReference kind Deployment,
controller=true), named `<deployment>-<template-hash>-<5 random>` and labelled
`pod-template-hash`. The controller keeps `spec.replicas` active pods of the
current template, replaces failed ones, removes old-template pods as new ones
become ready (all at once for strategy Recreate), scales down by deleting
not-ready then newest pods, and keeps the Deployment's status current.
"""

import copy
import hashlib
import json
import random
import time

from errors import ApiError

CRASH_WINDOW_S = 10
CRASH_BURST = 5

SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:10])


def is_ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def is_active(pod):
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


class DeploymentController:
    def __init__(self, store, registry, node_name):
        self.store = store
        self.deploy_t = registry.lookup("apps", "v1", "deployments")
        self.pod_t = registry.lookup("", "v1", "pods")
        self.node_name = node_name
        # Crash-loop back-off: creation times of recent pods per Deployment uid.
        self.recent_creates = {}

    def sync_all(self):
        deploys, _ = self.store.list(self.deploy_t)
        pods, _ = self.store.list(self.pod_t)
        by_owner = {}
        for p in pods:
            for ref in p["metadata"].get("ownerReferences") or []:
                if ref.get("controller"):
                    by_owner.setdefault(ref.get("uid"), []).append(p)
        for d in deploys:
            try:
                self.sync(d, by_owner.get(d["metadata"]["uid"], []))
            except ApiError:
                pass  # retried on the next tick, as a controller requeues

    def sync(self, d, owned):
        md, spec = d["metadata"], d.get("spec") or {}
        ns = md["namespace"]
        h = template_hash(spec.get("template") or {})
        desired = spec.get("replicas", 1)
        active = [p for p in owned if is_active(p)]
        new = [p for p in active if p["metadata"].get("labels", {}).get("pod-template-hash") == h]
        old = [p for p in active if p not in new]
        if not md.get("deletionTimestamp"):
            for _ in range(desired - len(new)):
                if not self._may_create(md["uid"], desired):
                    break  # like CrashLoopBackOff: retried on a later tick
                self._create_pod(d, h)
            if len(new) > desired:
                extra = sorted(new, key=lambda p: (is_ready(p), p["metadata"]["creationTimestamp"]))
                for p in extra[:len(new) - desired]:
                    self._delete(p)
            ready_new = sum(1 for p in new if is_ready(p))
            recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
            n_old = len(old) if recreate else max(0, len(old) + ready_new - desired)
            for p in sorted(old, key=is_ready)[:n_old]:
                self._delete(p)
        self._write_status(d, h, desired, active, new)

    def _may_create(self, uid, desired):
        """At most desired + CRASH_BURST pods per CRASH_WINDOW_S seconds per
        Deployment, so a pod that fails at once is not replaced thousands of
        times a minute."""
        now = time.monotonic()
        recent = [t for t in self.recent_creates.get(uid, []) if now - t < CRASH_WINDOW_S]
        if len(recent) >= desired + CRASH_BURST:
            self.recent_creates[uid] = recent
            return False
        recent.append(now)
        self.recent_creates[uid] = recent
        return True

    def _create_pod(self, d, h):
        tmpl = copy.deepcopy(d["spec"].get("template") or {})
        tmd = tmpl.get("metadata") or {}
        name = "%s-%s-%s" % (d["metadata"]["name"], h,
                             "".join(random.choice(SAFE) for _ in range(5)))
        labels = dict(tmd.get("labels") or {}, **{"pod-template-hash": h})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": d["metadata"]["namespace"],
                            "labels": labels, "annotations": dict(tmd.get("annotations") or {}),
                            "ownerReferences": [{
                                "apiVersion": "apps/v1", "kind": "Deployment",
                                "name": d["metadata"]["name"], "uid": d["metadata"]["uid"],
                                "controller": True, "blockOwnerDeletion": True}]},
               "spec": dict(tmpl.get("spec") or {}, nodeName=self.node_name)}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        self.store.create(self.pod_t, d["metadata"]["namespace"], pod)

    def _delete(self, p):
        try:
            self.store.delete(self.pod_t, p["metadata"]["namespace"], p["metadata"]["name"], {})
        except ApiError:
            pass

    def _write_status(self, d, h, desired, active, new):
        ready = sum(1 for p in active if is_ready(p))
        status = dict(d.get("status") or {})
        conds = {c["type"]: c for c in status.get("conditions") or []}
        available = ready >= desired
        complete = len(new) == desired and len(active) == desired and \
            all(is_ready(p) for p in new)
        want = {
            "Available": ("True" if available else "False",
                          "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                          "Deployment has minimum availability." if available else
                          "Deployment does not have minimum availability."),
            "Progressing": ("True", "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                            'ReplicaSet "%s-%s" %s.' % (d["metadata"]["name"], h,
                                                       "has successfully progressed" if complete
                                                       else "is progressing")),
        }
        from store import now_rfc3339
        new_conds = []
        for t, (st, reason, msg) in want.items():
            c = conds.get(t)
            if c and c.get("status") == st and c.get("reason") == reason:
                new_conds.append(c)
            else:
                ts = now_rfc3339()
                new_conds.append({"type": t, "status": st, "reason": reason, "message": msg,
                                  "lastUpdateTime": ts, "lastTransitionTime": ts})
        status.update({"observedGeneration": d["metadata"].get("generation", 1),
                       "replicas": len(active), "updatedReplicas": len(new),
                       "readyReplicas": ready, "availableReplicas": ready,
                       "conditions": new_conds})
        unavailable = max(0, desired - ready)
        if unavailable:
            status["unavailableReplicas"] = unavailable
        else:
            status.pop("unavailableReplicas", None)
        for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if not status.get(k):
                status.pop(k, None)  # the real API omits zero counts
        if status == d.get("status"):
            return
        with self.store.lock:
            cur = self.store.get(self.deploy_t, d["metadata"]["namespace"], d["metadata"]["name"])
            if cur["metadata"]["uid"] != d["metadata"]["uid"]:
                return
            cur["status"] = status
            self.store.update(self.deploy_t, d["metadata"]["namespace"], d["metadata"]["name"],
                              cur, subresource="status")
