"""Per-kind admission: defaults and validation the real registry strategies apply."""

import base64
import copy
import re

from errors import invalid

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_service_ip_counter = [10]


def now_rfc3339():
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def prepare_create(rtype, obj):
    kind = (rtype.group, rtype.kind)
    if kind == ("", "Namespace"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind == ("", "Pod"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", "default")
        for c in spec.get("containers") or []:
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind == ("", "Service"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if not spec.get("clusterIP"):
            _service_ip_counter[0] += 1
            n = _service_ip_counter[0]
            spec["clusterIP"] = "10.96.%d.%d" % (n // 250, n % 250 + 1)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        obj["status"] = {"loadBalancer": {}}
    elif kind == ("", "Secret"):
        obj.setdefault("type", "Opaque")
    elif kind == ("apps", "Deployment"):
        obj.pop("status", None)
    elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        fins = obj["metadata"].setdefault("finalizers", [])
        if CRD_CLEANUP_FINALIZER not in fins:
            fins.append(CRD_CLEANUP_FINALIZER)
    normalize(rtype, obj)


def prepare_update(rtype, obj, old):
    if (rtype.group, rtype.kind) == ("", "Service"):
        spec = obj.setdefault("spec", {})
        old_spec = old.get("spec", {})
        for f in ("clusterIP", "clusterIPs", "type", "sessionAffinity"):
            if f not in spec and f in old_spec:
                spec[f] = copy.deepcopy(old_spec[f])
    normalize(rtype, obj)


def normalize(rtype, obj):
    """Defaults and conversions applied on every write."""
    kind = (rtype.group, rtype.kind)
    if kind == ("", "Secret") and "stringData" in obj:
        data = obj.setdefault("data", {})
        for k, v in (obj.pop("stringData") or {}).items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    elif kind == ("apps", "Deployment"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate":
                                     {"maxSurge": "25%", "maxUnavailable": "25%"}})
        tspec = spec.setdefault("template", {}).setdefault("spec", {})
        tspec.setdefault("restartPolicy", "Always")
        tspec.setdefault("terminationGracePeriodSeconds", 30)
        tspec.setdefault("dnsPolicy", "ClusterFirst")
    elif kind == ("", "Service"):
        for p in obj.get("spec", {}).get("ports") or []:
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
    elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        spec = obj.get("spec", {})
        names = dict(spec.get("names", {}))
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        storage = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
        old_status = obj.get("status") or {}
        stored = list(old_status.get("storedVersions") or [])
        for v in storage:
            if v not in stored:
                stored.append(v)
        ts = now_rfc3339()
        obj["status"] = {
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": ts},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": ts},
            ],
            "storedVersions": stored,
        }


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def validate(rtype, obj):
    """Raises ApiError(422) for invalid objects."""
    name = obj.get("metadata", {}).get("name", "")
    causes = []
    if not name:
        causes.append(("metadata.name", "FieldValueRequired",
                       "Required value: name or generateName is required"))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        causes.append(("metadata.name", "FieldValueInvalid",
                       "Invalid value: %r: a lowercase RFC 1123 subdomain must consist of "
                       "lower case alphanumeric characters, '-' or '.', and must start and end "
                       "with an alphanumeric character" % name))
    if rtype.kind in ("Namespace", "Service") and not rtype.group and name and (
            len(name) > 63 or not _DNS_LABEL.match(name)):
        causes.append(("metadata.name", "FieldValueInvalid",
                       "Invalid value: %r: a lowercase RFC 1123 label must consist of lower "
                       "case alphanumeric characters or '-'" % name))
    kind = (rtype.group, rtype.kind)
    if kind == ("apps", "Deployment"):
        spec = obj.get("spec", {})
        sel = (spec.get("selector") or {}).get("matchLabels")
        labels = (spec.get("template", {}).get("metadata") or {}).get("labels") or {}
        if not spec.get("selector"):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
        elif sel and any(labels.get(k) != v for k, v in sel.items()):
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           "Invalid value: %s: `selector` does not match template `labels`"
                           % _go_map(labels)))
        if not (spec.get("template", {}).get("spec") or {}).get("containers"):
            causes.append(("spec.template.spec.containers", "FieldValueRequired",
                           "Required value"))
        if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
            causes.append(("spec.replicas", "FieldValueInvalid", "Invalid value: %d: must be "
                           "greater than or equal to 0" % spec["replicas"]))
    elif kind in (("batch", "Job"), ("batch", "CronJob")):
        spec = obj.get("spec", {})
        path = "spec"
        if rtype.kind == "CronJob":
            if len(str(spec.get("schedule") or "").split()) != 5 and \
                    not str(spec.get("schedule") or "").startswith("@"):
                causes.append(("spec.schedule", "FieldValueInvalid" if spec.get("schedule")
                               else "FieldValueRequired",
                               "Invalid value: %r: a cron schedule has 5 fields"
                               % spec.get("schedule")))
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
            path = "spec.jobTemplate.spec"
        pod = (spec.get("template") or {}).get("spec") or {}
        if not pod.get("containers"):
            causes.append((path + ".template.spec.containers", "FieldValueRequired",
                           "Required value"))
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            causes.append((path + ".template.spec.restartPolicy", "FieldValueNotSupported",
                           "Unsupported value: %r: supported values: \"OnFailure\", \"Never\""
                           % pod.get("restartPolicy")))
    elif kind == ("", "Pod"):
        if not obj.get("spec", {}).get("containers"):
            causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        spec = obj.get("spec", {})
        names = spec.get("names", {})
        for f in ("plural", "kind"):
            if not names.get(f):
                causes.append(("spec.names." + f, "FieldValueRequired", "Required value"))
        if names.get("plural") and spec.get("group") and \
                name != "%s.%s" % (names["plural"], spec["group"]):
            causes.append(("metadata.name", "FieldValueInvalid", "Invalid value: %r: must be "
                           "spec.names.plural+\".\"+spec.group" % name))
        versions = spec.get("versions") or []
        if not versions:
            causes.append(("spec.versions", "FieldValueRequired", "Required value"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(("spec.versions", "FieldValueInvalid", "Invalid value: must have "
                           "exactly one version marked as storage version"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("spec.scope", "FieldValueNotSupported", "Unsupported value: %r: "
                           "supported values: \"Cluster\", \"Namespaced\"" % spec.get("scope")))
    if causes:
        raise invalid(rtype, name, causes)


def _go_map(d):
    return "map[string]string{%s}" % ", ".join('"%s":"%s"' % kv for kv in sorted(d.items()))
