#include "operator/reconcile/workload.h"

#include <cstdio>

#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

std::string WorkloadName(const std::string& job) { return "usp-" + job; }

std::string WorkloadName(const std::string& kind, const std::string& job) {
  if (kind == "UserSegment") return "usp-segment-" + job;
  if (kind == "SessionJob") return "usp-session-" + job;
  return WorkloadName(job);
}

std::string ConfigHash(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

json SelectorLabels(const std::string& kind, const std::string& job) {
  return {{kNameLabel, kWorkerName}, {kJobLabel, job}, {kKindLabel, kind}};
}

namespace {

json Labels(const std::string& kind, const std::string& job, const WorkerOptions& options) {
  json labels = SelectorLabels(kind, job);
  for (const auto& [k, v] : options.extra_labels) {
    if (!labels.contains(k)) labels[k] = v;
  }
  labels["app.kubernetes.io/managed-by"] = "usp-operator";
  labels["app.kubernetes.io/component"] = "worker";
  return labels;
}

json Metadata(const json& owner, const std::string& kind, const WorkerOptions& options) {
  const std::string job = kube::Name(owner);
  return {{"name", WorkloadName(kind, job)},
          {"namespace", kube::Namespace(owner)},
          {"labels", Labels(kind, job, options)},
          {"ownerReferences", json::array({kube::ControllerReference(owner)})}};
}

json Probe(const char* path, int period, int failures) {
  return {{"httpGet", {{"path", path}, {"port", "http"}}},
          {"periodSeconds", period},
          {"failureThreshold", failures},
          {"timeoutSeconds", 1}};
}

}  // namespace

json DesiredConfigMap(const json& owner, const std::string& job_config, const WorkerOptions& options) {
  const std::string kind = owner.value("kind", "UserSignal");
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", Metadata(owner, kind, options)},
             {"data", {{kJobConfigKey, job_config}}}};
  cm["metadata"]["annotations"] = {{kConfigHashAnnotation, ConfigHash(job_config)}};
  return cm;
}

json DesiredDeployment(const json& owner, int32_t replicas, const std::string& config_hash,
                       const WorkerOptions& options, const std::vector<std::string>& job_args) {
  const std::string kind = owner.value("kind", "UserSignal");
  const std::string job = kube::Name(owner);
  const std::string config_path = std::string(kConfigMountPath) + "/" + kJobConfigKey;

  json args = {"worker",
               "--config=" + config_path,
               "--bootstrap=" + options.kafka_bootstrap,
               "--http-port=" + std::to_string(options.http_port),
               "--address=$(POD_IP)",
               // Every pod starts as a warm standby: the operator's failover
               // manager hands out partitions with the control protocol.
               "--partitions=none"};
  for (const auto& p : options.kafka_properties) args.push_back("--kafka-property=" + p);
  for (const auto& a : job_args) args.push_back(a);

  json env = json::array({
      {{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
      {{"name", "POD_NAMESPACE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
      {{"name", "POD_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
  });
  json mounts = json::array({
      {{"name", "config"}, {"mountPath", kConfigMountPath}, {"readOnly", true}},
      {{"name", "state"}, {"mountPath", "/var/lib/usp"}},
      {{"name", "tmp"}, {"mountPath", "/tmp"}},
  });
  json volumes = json::array({
      {{"name", "config"}, {"configMap", {{"name", WorkloadName(kind, job)}}}},
      {{"name", "state"}, {"emptyDir", json::object()}},
      {{"name", "tmp"}, {"emptyDir", json::object()}},
  });
  if (!options.sasl_secret.empty()) {
    auto secret_env = [&](const char* name, const std::string& key) {
      return json{{"name", name},
                  {"valueFrom", {{"secretKeyRef", {{"name", options.sasl_secret}, {"key", key}}}}}};
    };
    env.push_back(secret_env("USP_KAFKA_SASL_USERNAME", options.sasl_username_key));
    env.push_back(secret_env("USP_KAFKA_SASL_PASSWORD", options.sasl_password_key));
  }
  if (!options.tls_ca_secret.empty()) {
    mounts.push_back({{"name", "kafka-ca"}, {"mountPath", "/etc/usp/kafka/ca"}, {"readOnly", true}});
    volumes.push_back({{"name", "kafka-ca"},
                       {"secret",
                        {{"secretName", options.tls_ca_secret},
                         {"items", json::array({{{"key", options.tls_ca_key}, {"path", options.tls_ca_key}}})}}}});
  }
  if (!options.tls_client_secret.empty()) {
    mounts.push_back({{"name", "kafka-client"}, {"mountPath", "/etc/usp/kafka/client"}, {"readOnly", true}});
    volumes.push_back({{"name", "kafka-client"}, {"secret", {{"secretName", options.tls_client_secret}}}});
  }

  json container = {
      {"name", "worker"},
      {"image", options.image},
      {"imagePullPolicy", options.image_pull_policy},
      {"command", json::array({options.command})},
      {"args", args},
      {"env", env},
      {"ports", json::array({{{"name", "http"}, {"containerPort", options.http_port}, {"protocol", "TCP"}}})},
      {"readinessProbe", Probe("/readyz", 2, 2)},
      {"livenessProbe", Probe("/healthz", 5, 3)},
      {"volumeMounts", mounts},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"runAsUser", options.run_as_user},
        {"runAsGroup", options.run_as_user},
        {"capabilities", {{"drop", json::array({"ALL"})}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
  };
  if (!options.resources.is_null() && !options.resources.empty()) container["resources"] = options.resources;
  if (options.prestop_sleep_seconds > 0) {
    // An exec hook (the image has coreutils) rather than the `sleep` action,
    // which needs Kubernetes 1.30.
    container["lifecycle"] = {
        {"preStop",
         {{"exec", {{"command", json::array({"sleep", std::to_string(options.prestop_sleep_seconds)})}}}}}};
  }

  json pod_spec = {
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"terminationGracePeriodSeconds", 30},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", options.run_as_user},
        {"runAsGroup", options.run_as_user},
        {"fsGroup", options.run_as_user},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", json::array({container})},
      {"volumes", volumes},
  };
  if (!options.service_account.empty()) pod_spec["serviceAccountName"] = options.service_account;
  if (!options.image_pull_secrets.empty()) {
    json secrets = json::array();
    for (const auto& s : options.image_pull_secrets) secrets.push_back({{"name", s}});
    pod_spec["imagePullSecrets"] = secrets;
  }

  json metadata = Metadata(owner, kind, options);
  metadata["annotations"] = {{kConfigHashAnnotation, config_hash}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadata},
          {"spec",
           {{"replicas", replicas},
            {"revisionHistoryLimit", 3},
            {"selector", {{"matchLabels", SelectorLabels(kind, job)}}},
            // Surge first: a new pod becomes ready before an old one goes,
            // so the actives never drop below parallelism during a rollout.
            {"strategy",
             {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}},
            {"template",
             {{"metadata",
               {{"labels", Labels(kind, job, options)},
                {"annotations", {{kConfigHashAnnotation, config_hash}}}}},
              {"spec", pod_spec}}}}}};
}

}  // namespace usp::op
