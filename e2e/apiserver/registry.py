"""Resource types the double serves: built-ins plus kinds registered by CRDs.

Produces the discovery documents (/api, /apis, /apis/<g>/<v>) and a minimal
OpenAPI v3 index that tells kubectl the server supports server-side field
validation (kubectl apply otherwise insists on downloading /openapi/v2).
"""

import hashlib
import json
import threading

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# Default printer column used when a type defines none (as the real server).
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


class ResourceType:
    """One served group/version/resource."""

    def __init__(self, group, version, plural, kind, namespaced, singular=None,
                 short_names=(), categories=(), status=False, scale=None,
                 columns=None, schema=None, generation=False, verbs=None,
                 crd_name=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status          # has a status subresource
        self.scale = scale            # {"specReplicasPath", "statusReplicasPath", ...}
        self.columns = columns        # additionalPrinterColumns (None: built-in printer)
        self.schema = schema          # openAPIV3Schema (CRDs only)
        self.generation = generation  # metadata.generation tracked
        self.verbs = list(verbs or ALL_VERBS)
        self.crd_name = crd_name

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def key(self):
        """Storage key: shared by every version of a group/resource."""
        return "%s/%s" % (self.group, self.plural)

    @property
    def group_resource(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def discovery_entries(self):
        entry = {"name": self.plural, "singularName": self.singular,
                 "namespaced": self.namespaced, "kind": self.kind, "verbs": self.verbs,
                 "storageVersionHash": hashlib.sha256(self.key.encode()).hexdigest()[:11]}
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        out = [entry]
        if self.status:
            out.append({"name": self.plural + "/status", "singularName": "",
                        "namespaced": self.namespaced, "kind": self.kind,
                        "verbs": ["get", "patch", "update"]})
        if self.scale:
            out.append({"name": self.plural + "/scale", "singularName": "",
                        "namespaced": self.namespaced, "group": "autoscaling",
                        "version": "v1", "kind": "Scale",
                        "verbs": ["get", "patch", "update"]})
        if self.kind == "Pod":
            out.append({"name": "pods/log", "singularName": "", "namespaced": True,
                        "kind": "Pod", "verbs": ["get"]})
        return out


def _builtin_types():
    R = ResourceType
    deploy_scale = {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas"}
    return [
        R("", "v1", "namespaces", "Namespace", False, short_names=["ns"], status=True),
        R("", "v1", "configmaps", "ConfigMap", True, short_names=["cm"]),
        R("", "v1", "secrets", "Secret", True),
        R("", "v1", "services", "Service", True, short_names=["svc"], categories=["all"],
          status=True),
        R("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=["sa"]),
        R("", "v1", "pods", "Pod", True, short_names=["po"], categories=["all"], status=True),
        R("", "v1", "events", "Event", True, short_names=["ev"]),
        R("", "v1", "endpoints", "Endpoints", True, short_names=["ep"]),
        R("", "v1", "nodes", "Node", False, short_names=["no"], status=True),
        R("apps", "v1", "deployments", "Deployment", True, short_names=["deploy"],
          categories=["all"], status=True, scale=deploy_scale, generation=True),
        R("apps", "v1", "replicasets", "ReplicaSet", True, short_names=["rs"],
          categories=["all"], status=True, generation=True),
        R("apps", "v1", "statefulsets", "StatefulSet", True, short_names=["sts"],
          categories=["all"], status=True, generation=True),
        R("batch", "v1", "jobs", "Job", True, categories=["all"], status=True),
        R("batch", "v1", "cronjobs", "CronJob", True, short_names=["cj"], categories=["all"],
          status=True),
        R("coordination.k8s.io", "v1", "leases", "Lease", True),
        R("events.k8s.io", "v1", "events", "Event", True, short_names=["ev"]),
        R("apiextensions.k8s.io", "v1", "customresourcedefinitions",
          "CustomResourceDefinition", False, short_names=["crd", "crds"],
          categories=["api-extensions"], status=True, generation=True),
        R("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
        R("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
        R("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
          False),
        R("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
          short_names=["pdb"], status=True, generation=True),
        R("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True,
          short_names=["netpol"], generation=True),
        R("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", True,
          short_names=["smon"], categories=["prometheus-operator"], generation=True),
        R("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor", True,
          short_names=["pmon"], categories=["prometheus-operator"], generation=True),
        R("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", True,
          short_names=["promrule"], categories=["prometheus-operator"], generation=True),
    ]


class Registry:
    """Thread-safe table of served types; CRD writes register/unregister kinds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._builtin = _builtin_types()
        self._crd = {}  # CRD name -> [ResourceType]

    def all_types(self):
        with self._lock:
            out = list(self._builtin)
            for types in self._crd.values():
                out.extend(types)
            return out

    def lookup(self, group, version, plural):
        for t in self.all_types():
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def by_key(self, key):
        """Any served version of a storage key (first found)."""
        for t in self.all_types():
            if t.key == key:
                return t
        return None

    def by_kind(self, api_version, kind):
        for t in self.all_types():
            if t.api_version == api_version and t.kind == kind:
                return t
        return None

    # --- CRDs ---------------------------------------------------------------

    def register_crd(self, crd):
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        group = spec.get("group", "")
        types = []
        for v in spec.get("versions", []):
            if not v.get("served", True):
                continue
            sub = v.get("subresources") or {}
            scale = sub.get("scale")
            columns = v.get("additionalPrinterColumns") or [AGE_COLUMN]
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            types.append(ResourceType(
                group, v["name"], names.get("plural"), names.get("kind"),
                spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names.get("kind", "").lower(),
                short_names=names.get("shortNames") or [],
                categories=names.get("categories") or [],
                status="status" in sub, scale=scale, columns=columns, schema=schema,
                generation=True, crd_name=crd["metadata"]["name"]))
        with self._lock:
            self._crd[crd["metadata"]["name"]] = types

    def unregister_crd(self, name):
        with self._lock:
            self._crd.pop(name, None)

    # --- discovery ------------------------------------------------------------

    def group_versions(self):
        """{group: [versions]} in registration order, core group excluded."""
        groups = {}
        for t in self.all_types():
            if t.group:
                vs = groups.setdefault(t.group, [])
                if t.version not in vs:
                    vs.append(t.version)
        return groups

    def api_group_list(self):
        groups = []
        for g, versions in self.group_versions().items():
            vs = sorted(versions, key=_version_priority)
            entries = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in vs]
            groups.append({"name": g, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group, version):
        types = [t for t in self.all_types() if t.group == group and t.version == version]
        if not types:
            return None
        resources = []
        for t in types:
            resources.extend(t.discovery_entries())
        gv = "%s/%s" % (group, version) if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": resources}

    # --- OpenAPI v3 (just enough for kubectl's fieldValidation check) ---------

    def openapi_root(self):
        paths = {"api/v1": None}
        for g, versions in self.group_versions().items():
            for v in versions:
                paths["apis/%s/%s" % (g, v)] = None
        out = {}
        for p in paths:
            doc = self.openapi_group_version(p)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
            out[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, digest[:32].upper())}
        return {"paths": out}

    def openapi_group_version(self, path):
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, version = "", parts[1]
        else:
            group, version = parts[1], parts[2]
        paths = {}
        schemas = {}
        for t in self.all_types():
            if t.group != group or t.version != version:
                continue
            gvk = {"group": group, "version": version, "kind": t.kind}
            prefix = "/" + path.strip("/")
            if t.namespaced:
                item = "%s/namespaces/{namespace}/%s/{name}" % (prefix, t.plural)
            else:
                item = "%s/%s/{name}" % (prefix, t.plural)
            paths[item] = {"patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0",
                "info": {"title": "USP API server double", "version": "v1.32.0"},
                "paths": paths, "components": {"schemas": schemas}}


def _version_priority(v):
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    import re
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, 0, 0, v)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, v)
