"""Server-side printing: meta.k8s.io/v1 Table responses for `kubectl get`.

Custom resources use their CRD's additionalPrinterColumns (simple JSONPath);
built-ins use a column set close to the real server's printers.
"""

import calendar
import time

from k8s_selectors import jsonpath, scalar_text


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, s % 60) if s % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd%dh" % (hours // 24, hours % 24) if hours % 24 else "%dd" % (hours // 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    return "%dy" % (hours // 24 // 365)


def age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = calendar.timegm(time.strptime(ts.replace("Z", "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<invalid>"
    return human_duration(time.time() - t)


def _col(name, typ="string", fmt="", priority=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name,
            "priority": priority}


def _pod_cells(o):
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    n = len((o.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("reason") or st.get("phase") or "Pending"
    for c in cs:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Error"
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return ["%d/%d" % (ready, n), reason, restarts,
            age(o["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            (o.get("spec") or {}).get("nodeName") or "<none>"]


def _deploy_cells(o):
    st, spec = o.get("status") or {}, o.get("spec") or {}
    containers = (spec.get("template", {}).get("spec") or {}).get("containers") or []
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    return ["%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(o["metadata"].get("creationTimestamp")),
            ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            ",".join("%s=%s" % kv for kv in sorted(sel.items()))]


def _service_cells(o):
    spec = o.get("spec") or {}
    ports = ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
                     for p in spec.get("ports") or []) or "<none>"
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", "<none>", ports,
            age(o["metadata"].get("creationTimestamp"))]


BUILTIN = {
    ("", "Pod"): ([_col("Ready"), _col("Status"), _col("Restarts", "integer"), _col("Age"),
                   _col("IP", priority=1), _col("Node", priority=1)], _pod_cells),
    ("apps", "Deployment"): ([_col("Ready"), _col("Up-to-date", "integer"),
                              _col("Available", "integer"), _col("Age"),
                              _col("Containers", priority=1), _col("Images", priority=1),
                              _col("Selector", priority=1)], _deploy_cells),
    ("", "Service"): ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
                       _col("Age")], _service_cells),
    ("", "Namespace"): ([_col("Status"), _col("Age")],
                        lambda o: [(o.get("status") or {}).get("phase", ""),
                                   age(o["metadata"].get("creationTimestamp"))]),
    ("", "ConfigMap"): ([_col("Data", "integer"), _col("Age")],
                        lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                   age(o["metadata"].get("creationTimestamp"))]),
    ("", "Secret"): ([_col("Type"), _col("Data", "integer"), _col("Age")],
                     lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}),
                                age(o["metadata"].get("creationTimestamp"))]),
    ("", "Event"): ([_col("Type"), _col("Reason"), _col("Object"), _col("Message")],
                    lambda o: [o.get("type", ""), o.get("reason", ""),
                               "%s/%s" % ((o.get("involvedObject") or {}).get("kind", "").lower(),
                                          (o.get("involvedObject") or {}).get("name", "")),
                               o.get("message", "")]),
    ("coordination.k8s.io", "Lease"): ([_col("Holder"), _col("Age")],
                                       lambda o: [(o.get("spec") or {}).get("holderIdentity", ""),
                                                  age(o["metadata"].get("creationTimestamp"))]),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (
        [_col("Created At", "date")], lambda o: [o["metadata"].get("creationTimestamp")]),
}


def _cr_cell(col, obj):
    try:
        res = jsonpath(obj, col.get("jsonPath", ""))
    except ValueError:
        return None
    if not res or res[0] is None:
        return None
    v = res[0]
    t = col.get("type", "string")
    if t == "date":
        return age(v) if isinstance(v, str) else None
    if t == "integer":
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if t == "number":
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if t == "boolean":
        return v if isinstance(v, bool) else None
    return scalar_text(v)


def columns_and_cells(rtype):
    name_col = _col("Name", "string", "name", desc="Name must be unique within a namespace.")
    if rtype.columns is not None:  # custom resource
        cols = [name_col] + [
            _col(c["name"], c.get("type", "string"), c.get("format", ""),
                 c.get("priority", 0), c.get("description", ""))
            for c in rtype.columns]
        return cols, lambda o: [o["metadata"]["name"]] + [_cr_cell(c, o) for c in rtype.columns]
    spec = BUILTIN.get((rtype.group, rtype.kind))
    if spec:
        cols, fn = spec
        return [name_col] + cols, lambda o: [o["metadata"]["name"]] + fn(o)
    return [name_col, _col("Age")], lambda o: [o["metadata"]["name"],
                                             age(o["metadata"].get("creationTimestamp"))]


def to_table(rtype, objs, resource_version, include="Metadata", cont=None):
    cols, cells = columns_and_cells(rtype)
    rows = []
    for o in objs:
        row = {"cells": cells(o)}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    md = {"resourceVersion": resource_version}
    if cont:
        md["continue"] = cont
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md,
            "columnDefinitions": cols, "rows": rows}
