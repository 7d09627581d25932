#!/usr/bin/env python3
"""Lints and renders helm/usp with the real helm, then checks the manifests for
the least-privilege and Pod Security "restricted" properties of issue 8.

Usage: check_chart.py HELM   (run by helm/test_chart.sh)
Prints one line per failure and ends with "N passed, M failed".
"""

import filecmp
import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(ROOT, "helm", "usp")
RELEASE, NAMESPACE = "usp", "usp-system"

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return ok


def helm(helm_bin, *args):
    return subprocess.run([helm_bin, *args], capture_output=True, text=True)


def render(helm_bin, *extra):
    r = helm(helm_bin, "template", RELEASE, CHART, "--namespace", NAMESPACE, *extra)
    if not check(r.returncode == 0, f"helm template {' '.join(extra)}: {r.stderr.strip()}"):
        return []
    return [d for d in yaml.safe_load_all(r.stdout) if d]


POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
ALLOWED_VOLUMES = {"configMap", "emptyDir", "secret", "persistentVolumeClaim", "projected",
                   "downwardAPI", "ephemeral", "csi"}
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|PASSWD|CREDENTIAL", re.I)


def pod_spec(obj):
    if obj["kind"] in POD_KINDS:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def ident(obj):
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def check_pod_security(obj):
    """Pod Security Standards, restricted profile (plus readOnlyRootFilesystem)."""
    spec = pod_spec(obj)
    name = ident(obj)
    psc = spec.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, f"{name}: pod runAsNonRoot")
    check(psc.get("runAsUser") == 65532, f"{name}: pod runAsUser 65532")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: pod seccomp RuntimeDefault")
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        check(spec.get(key) in (None, False) or (key == "hostUsers"), f"{name}: no {key}")
    for vol in spec.get("volumes", []):
        kinds = set(vol) - {"name"}
        check(kinds <= ALLOWED_VOLUMES, f"{name}: volume {vol['name']} of type {kinds} allowed")
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    check(bool(spec.get("containers")), f"{name}: has containers")
    for c in containers:
        cn = f"{name} container {c['name']}"
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation false")
        check(sc.get("privileged") in (None, False), f"{cn}: not privileged")
        check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cn}: capabilities drop ALL")
        check(not sc.get("capabilities", {}).get("add"), f"{cn}: no added capabilities")
        check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{cn}: runAsNonRoot")
        check(sc.get("runAsUser", psc.get("runAsUser")) not in (0, None), f"{cn}: non-zero runAsUser")
        check(sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") == "RuntimeDefault",
              f"{cn}: seccomp RuntimeDefault")
        check(sc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem")
        check(not any(p.get("hostPort") for p in c.get("ports", [])), f"{cn}: no hostPort")
        res = c.get("resources", {})
        check(bool(res.get("requests")) and bool(res.get("limits", {}).get("memory")),
              f"{cn}: resource requests and a memory limit")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        check("/tmp" in mounts, f"{cn}: writable /tmp from a volume")
        check_no_inline_secrets(cn, c)


def check_no_inline_secrets(cn, c):
    for env in c.get("env", []):
        if SECRETISH.search(env["name"]):
            check("value" not in env and "secretKeyRef" in env.get("valueFrom", {}),
                  f"{cn}: env {env['name']} comes from a Secret")
    for arg in c.get("args", []) + c.get("command", []):
        check(not re.search(r"(password|sasl\.username|secret|token)=", arg, re.I)
              or re.search(r"(-secret|-file)=", arg),
              f"{cn}: argument {arg!r} carries no secret")


def check_rbac(docs, watched):
    roles = {}
    for d in docs:
        kind = d["kind"]
        if kind in ("Role", "ClusterRole"):
            for rule in d.get("rules", []):
                for field in ("verbs", "resources", "apiGroups"):
                    check("*" not in rule.get(field, []), f"{ident(d)}: no wildcard {field}")
                check("secrets" not in rule.get("resources", []), f"{ident(d)}: no access to Secrets")
                check(not ({"escalate", "bind", "impersonate"} & set(rule.get("verbs", []))),
                      f"{ident(d)}: no escalate/bind/impersonate")
                if kind == "ClusterRole":
                    check(set(rule["verbs"]) <= {"get", "list", "watch"}, f"{ident(d)}: cluster-wide read only")
                    check(rule.get("resources") == ["customresourcedefinitions"] and rule.get("resourceNames"),
                          f"{ident(d)}: cluster-wide access only to the USP CRDs by name")
            roles.setdefault(d["metadata"].get("namespace"), []).append(d)
        if kind == "ClusterRoleBinding":
            check(d["roleRef"]["kind"] == "ClusterRole" and d["roleRef"]["name"] != "cluster-admin",
                  f"{ident(d)}: binds our own ClusterRole")
        if kind == "RoleBinding":
            check(d["roleRef"]["kind"] == "Role", f"{ident(d)}: binds a namespaced Role")
    for ns in watched:
        rules = [r for role in roles.get(ns, []) for r in role["rules"]]
        grants = {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
        for res in ("usersignals", "usersegments", "sessionjobs"):
            check(("usp.dev", res, "watch") in grants, f"Role in {ns}: watch {res}")
            check(("usp.dev", res + "/status", "update") in grants, f"Role in {ns}: update {res}/status")
            check(("usp.dev", res + "/finalizers", "update") in grants, f"Role in {ns}: update {res}/finalizers")
        check(("apps", "deployments", "create") in grants, f"Role in {ns}: create deployments")
        check(("", "configmaps", "create") in grants, f"Role in {ns}: create configmaps")
        check(("", "services", "create") in grants, f"Role in {ns}: create services")
        pod_verbs = {v for g, res, v in grants if res == "pods"}
        check(pod_verbs == {"get", "list", "watch", "delete"}, f"Role in {ns}: pods get/list/watch/delete, got {pod_verbs}")
        check(("", "events", "create") in grants, f"Role in {ns}: create events")
        check(not any(res == "leases" for _, res, _ in grants) or ns == NAMESPACE,
              f"Role in {ns}: no leases outside the operator namespace")
    own = [r for role in roles.get(NAMESPACE, []) for r in role["rules"]]
    check(any("leases" in r["resources"] and "update" in r["verbs"] and r.get("resourceNames") for r in own),
          "Role in the operator namespace: update of its one Lease")


def check_common(docs, watched, operator_replicas):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        labels = d["metadata"].get("labels", {})
        check(all(k in labels for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                        "app.kubernetes.io/managed-by", "helm.sh/chart")),
              f"{ident(d)}: standard labels")
        if d["kind"] != "ClusterRole" and d["kind"] != "ClusterRoleBinding":
            check(bool(d["metadata"].get("namespace")), f"{ident(d)}: explicit namespace")
    check("Secret" not in by_kind, "no Secret is rendered (credentials are referenced, never inline)")

    sas = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in by_kind.get("ServiceAccount", [])}
    operator_sa = f"{RELEASE}-operator"
    worker_sa = f"{RELEASE}-worker"
    for ns in watched:
        sa = sas.get((ns, worker_sa))
        check(sa is not None and sa.get("automountServiceAccountToken") is False,
              f"workers ServiceAccount in {ns} with automountServiceAccountToken false")

    workloads = [d for d in docs if pod_spec(d) is not None]
    check(len(workloads) >= 2, "operator and query service workloads rendered")
    for w in workloads:
        check_pod_security(w)
        spec = pod_spec(w)
        sa_name = spec.get("serviceAccountName")
        check(sa_name and (w["metadata"]["namespace"], sa_name) in sas, f"{ident(w)}: own ServiceAccount")
        if sa_name != operator_sa:
            check(spec.get("automountServiceAccountToken") is False, f"{ident(w)}: no API token")
            check(sas.get((w["metadata"]["namespace"], sa_name), {}).get("automountServiceAccountToken") is False,
                  f"{ident(w)}: its ServiceAccount does not automount a token")

    ops = [d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == operator_sa]
    if check(len(ops) == 1, "one operator Deployment"):
        op = ops[0]
        check(op["spec"]["replicas"] == operator_replicas, f"operator replicas {operator_replicas}")
        c = op["spec"]["template"]["spec"]["containers"][0]
        args = c["args"]
        check(c["command"] == ["usp-operator"], "operator runs usp-operator")
        check("--leader-elect" in args, "operator: --leader-elect")
        check(sorted(a.split("=", 1)[1] for a in args if a.startswith("--namespace=")) == sorted(watched),
              f"operator: --namespace for each of {watched}")
        check(f"--worker-service-account={worker_sa}" in args, "operator: --worker-service-account")
        check(any(a.startswith("--worker-image=") for a in args), "operator: --worker-image")
        check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "operator: /healthz liveness probe")
        check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "operator: /readyz readiness probe")
        check(any(p["name"] == "http" for p in c["ports"]), "operator: metrics port")
    check(("PodDisruptionBudget" in by_kind) == (operator_replicas > 1), "PodDisruptionBudget only with replicas > 1")

    query = [w for w in workloads if w["metadata"]["name"] == f"{RELEASE}-query"]
    if check(len(query) == 1, "one query service workload"):
        c = pod_spec(query[0])["containers"][0]
        check(c["command"] == ["usp-runtime"] and c["args"][0] == "serve", "query service runs usp-runtime serve")
        check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "query service: /readyz readiness probe")
    check_rbac(docs, watched)
    return by_kind


def check_network_policy(by_kind, enabled, watched):
    nps = by_kind.get("NetworkPolicy", [])
    if not enabled:
        check(not nps, "no NetworkPolicy unless networkPolicy.enabled")
        return
    query = [n for n in nps if n["metadata"]["name"] == f"{RELEASE}-query"]
    if check(len(query) == 1, "query NetworkPolicy rendered"):
        spec = query[0]["spec"]
        check(spec["policyTypes"] == ["Ingress"], "query NetworkPolicy: ingress policy")
        for rule in spec["ingress"]:
            check(rule.get("ports") == [{"port": "http", "protocol": "TCP"}], "query NetworkPolicy: query port only")
            check(bool(rule.get("from")), "query NetworkPolicy: never open to all sources")
            for peer in rule.get("from", []):
                check("ipBlock" not in peer, "query NetworkPolicy: no ipBlock")
        first = spec["ingress"][0]["from"][0]
        check(first["podSelector"]["matchLabels"] == {"app": "api-gateway"},
              "query NetworkPolicy: clients selected by the configured labels")
    for ns in watched:
        check(any(n["metadata"]["namespace"] == ns and "worker" in n["metadata"]["name"] for n in nps),
              f"worker NetworkPolicy in {ns}")


def query_container(docs):
    for d in docs:
        spec = pod_spec(d)
        if spec and d["metadata"]["name"].endswith("query"):
            return d, spec, spec["containers"][0]
    return None, None, None


def flag_values(args):
    out = {}
    for a in args:
        if a.startswith("--"):
            name, _, value = a.partition("=")
            out[name] = value
    return out


def check_file_flag(spec, c, flags, flag, secret, key):
    """`flag` names a file that a read-only mount of Secret `secret` provides as `key`."""
    path = flags.get(flag, "")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    directory, _, name = path.rpartition("/")
    mount = mounts.get(directory)
    ok = mount is not None and mount.get("readOnly") is True and name == key
    if ok:
        vol = volumes.get(mount["name"], {}).get("secret", {})
        items = {i["key"]: i["path"] for i in vol.get("items", [])}
        ok = vol.get("secretName") == secret and items.get(key) == key
    check(ok, f"query: {flag}={path!r} is key {key} of Secret {secret}, mounted read-only")


def check_query_security(helm_bin):
    """Bearer auth, TLS/mTLS and request limits reach `usp-runtime serve` as flags and mounts."""
    # Defaults: plain HTTP, no auth, the documented limits.
    _, spec, c = query_container(render(helm_bin))
    flags = flag_values(c["args"])
    check(not any(f.startswith(("--tls-", "--auth-", "--probe-port")) for f in flags),
          f"defaults: query has no TLS/auth flags, got {sorted(flags)}")
    limits = {"--max-header-bytes": "8192", "--max-body-bytes": "65536", "--request-timeout": "10s",
              "--idle-timeout": "60s", "--max-limit": "10000", "--max-response-bytes": "16777216"}
    check(all(flags.get(k) == v for k, v in limits.items()),
          f"defaults: query limits flags {limits}, got {flags}")
    check([p["name"] for p in c["ports"]] == ["http"], "defaults: query serves plain http")

    # TLS with client certificates, auth with /metrics protected, custom limits.
    docs = render(helm_bin, "--set", "queryService.tls.enabled=true",
                  "--set", "queryService.tls.secretName=query-tls",
                  "--set", "queryService.tls.clientCASecret=query-client-ca",
                  "--set", "queryService.tls.clientCAKey=clients.pem",
                  "--set", "queryService.auth.enabled=true",
                  "--set", "queryService.auth.tokenSecret.name=query-tokens",
                  "--set", "queryService.auth.protectMetrics=true",
                  "--set", "queryService.limits.maxLimit=500",
                  "--set", "queryService.limits.requestTimeout=5s",
                  "--set", "networkPolicy.enabled=true")
    _, spec, c = query_container(docs)
    flags = flag_values(c["args"])
    check_file_flag(spec, c, flags, "--tls-cert", "query-tls", "tls.crt")
    check_file_flag(spec, c, flags, "--tls-key", "query-tls", "tls.key")
    check_file_flag(spec, c, flags, "--tls-client-ca", "query-client-ca", "clients.pem")
    check_file_flag(spec, c, flags, "--auth-tokens-file", "query-tokens", "tokens")
    check("--auth-metrics" in flags, "protectMetrics: --auth-metrics")
    check(flags.get("--max-limit") == "500" and flags.get("--request-timeout") == "5s",
          f"limits values become flags, got {flags}")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports == {"https": 8090, "http": 8091} and flags.get("--probe-port") == "8091",
          f"TLS: API on https, probes on plain http --probe-port, got {ports} {flags.get('--probe-port')}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("port") == "http" and get.get("scheme", "HTTP") == "HTTP",
              f"TLS: {probe} uses the plain probe port")
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("query"))
    check({p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {"https": "https", "http": "http"},
          f"TLS: Service exposes https (API) and http (metrics), got {svc['spec']['ports']}")
    np = next((d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("query")), None)
    np_ports = [p["port"] for p in (np or {"spec": {"ingress": [{}]}})["spec"]["ingress"][0].get("ports", [])]
    check("https" in np_ports, f"TLS: the NetworkPolicy lets clients reach https, got {np_ports}")

    # TLS without client certificates: no --tls-client-ca and no client-ca volume.
    _, spec, c = query_container(render(helm_bin, "--set", "queryService.tls.enabled=true",
                                        "--set", "queryService.tls.secretName=query-tls"))
    check("--tls-client-ca" not in flag_values(c["args"]) and
          not any(v["name"] == "client-ca" for v in spec["volumes"]),
          "TLS without clientCASecret: no client CA flag or volume")

    expect_failure(helm_bin, "TLS without a certificate Secret", "--set", "queryService.tls.enabled=true",
                   message="queryService.tls.secretName")
    expect_failure(helm_bin, "client CA without TLS", "--set", "queryService.tls.clientCASecret=ca",
                   message="needs queryService.tls.enabled")
    expect_failure(helm_bin, "protectMetrics without auth", "--set", "queryService.auth.protectMetrics=true",
                   message="needs queryService.auth.enabled")
    expect_failure(helm_bin, "a bad request timeout", "--set", "queryService.limits.requestTimeout=soon")
    expect_failure(helm_bin, "an unknown limit", "--set", "queryService.limits.maxRows=5")


INLINE_SECRET = re.compile(r"(sasl\.password|ssl\.key\.password|ssl\.keystore\.password|ssl\.key\.pem"
                           r"|sasl\.oauthbearer\.client\.secret)\s*[=:]", re.I)


def check_kafka_secrets_only_by_reference(docs):
    """With SASL on, the password reaches pods only through secretKeyRef: nothing rendered
    (args, env values, ConfigMaps, annotations) holds a Kafka secret inline."""
    text = yaml.safe_dump_all(docs)
    hits = sorted(set(m.group(0) for m in INLINE_SECRET.finditer(text)))
    check(not hits, f"SASL on: no rendered manifest sets a Kafka secret inline, found {hits}")
    seen = 0
    for d in docs:
        spec = pod_spec(d)
        for c in (spec or {}).get("containers", []):
            for e in c.get("env", []):
                if e["name"] == "USP_KAFKA_SASL_PASSWORD":
                    seen += 1
                    ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                    check("value" not in e and ref.get("name") == "kafka-sasl",
                          f"{ident(d)}: USP_KAFKA_SASL_PASSWORD from Secret kafka-sasl")
        if d["kind"] == "ConfigMap":
            for k, v in (d.get("data") or {}).items():
                check(not re.search(r"password", f"{k}={v}", re.I), f"{ident(d)}: key {k} holds no password")
    check(seen >= 2, f"SASL on: operator and query service get USP_KAFKA_SASL_PASSWORD, got {seen}")


def expect_failure(helm_bin, what, *args, message=None):
    r = helm(helm_bin, "template", RELEASE, CHART, "--namespace", NAMESPACE, *args)
    ok = r.returncode != 0 and (message is None or message in r.stderr)
    check(ok, f"rejected: {what} (rc={r.returncode}, {r.stderr.strip()[:200]})")


def main():
    helm_bin = sys.argv[1]

    r = helm(helm_bin, "lint", "--strict", CHART)
    check(r.returncode == 0, "helm lint --strict (defaults):\n" + r.stdout + r.stderr)
    all_values = os.path.join(HERE, "values-all.yaml")
    r = helm(helm_bin, "lint", "--strict", CHART, "-f", all_values)
    check(r.returncode == 0, "helm lint --strict (everything on):\n" + r.stdout + r.stderr)

    # Defaults: the release namespace is the one watched namespace.
    docs = render(helm_bin)
    by_kind = check_common(docs, [NAMESPACE], 1)
    check_network_policy(by_kind, False, [NAMESPACE])
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "ClusterRole", "ClusterRoleBinding"):
        check(kind not in by_kind, f"defaults: no {kind}")
    check(not any(d["kind"] == "CustomResourceDefinition" for d in docs), "CRDs come only from crds/")

    # Everything on.
    docs = render(helm_bin, "-f", all_values)
    watched = ["team-a", "team-b"]
    by_kind = check_common(docs, watched, 2)
    check_network_policy(by_kind, True, watched)
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "StatefulSet"):
        check(kind in by_kind, f"everything on: {kind} rendered")
    sm = by_kind.get("ServiceMonitor", [{}])[0]
    check(sm.get("metadata", {}).get("labels", {}).get("release") == "prom", "ServiceMonitor carries extra labels")
    refs = set()
    for w in docs:
        spec = pod_spec(w)
        if spec:
            for c in spec["containers"]:
                refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e
                         and "secretKeyRef" in e["valueFrom"]}
            refs |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    check({"kafka-sasl", "kafka-ca", "kafka-client", "usp-query-tokens"} <= refs,
          f"Kafka and auth credentials by Secret reference, got {sorted(refs)}")
    check_kafka_secrets_only_by_reference(docs)

    check_query_security(helm_bin)

    # CRDs: helm installs crds/ as is; they must be the repository's files.
    docs = render(helm_bin, "--include-crds")
    crds = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition")
    check(crds == ["sessionjobs.usp.dev", "usersegments.usp.dev", "usersignals.usp.dev"],
          f"--include-crds renders the three CRDs, got {crds}")
    repo_crds = sorted(f for f in os.listdir(os.path.join(ROOT, "crds")) if f.endswith(".yaml"))
    chart_crds = sorted(os.listdir(os.path.join(CHART, "crds")))
    check(repo_crds == chart_crds, "helm/usp/crds has the same files as crds/")
    for f in repo_crds:
        check(filecmp.cmp(os.path.join(ROOT, "crds", f), os.path.join(CHART, "crds", f), shallow=False),
              f"helm/usp/crds/{f} is identical to crds/{f}")

    # values.schema.json is strict, and credentials cannot be given inline.
    expect_failure(helm_bin, "inline SASL password", "--set", "kafka.sasl.password=hunter2",
                   message="password")
    expect_failure(helm_bin, "inline TLS key", "--set", "kafka.tls.clientKey=abc")
    expect_failure(helm_bin, "unknown top-level key", "--set", "operatr.replicas=2")
    expect_failure(helm_bin, "zero operator replicas", "--set", "operator.replicas=0")
    expect_failure(helm_bin, "SASL without a Secret", "--set", "kafka.securityProtocol=SASL_SSL",
                   "--set", "kafka.sasl.mechanism=PLAIN", message="kafka.sasl.secret.name")
    expect_failure(helm_bin, "bad watch namespace", "--set", "operator.watchNamespaces={Team_A}")
    expect_failure(helm_bin, "auth without a token Secret", "--set", "queryService.auth.enabled=true",
                   message="tokenSecret.name")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
