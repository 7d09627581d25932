#pragma once
// The objects a job runs as, built from its resource: pure functions from
// (owner, normalized config, options) to the desired ConfigMap and
// Deployment. The reconciler compares these with what the cluster holds.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace usp::op {

inline constexpr const char* kFinalizer = "usp.dev/cleanup";
inline constexpr const char* kConfigHashAnnotation = "usp.dev/config-hash";
inline constexpr const char* kJobLabel = "usp.dev/job";
inline constexpr const char* kKindLabel = "usp.dev/kind";
inline constexpr const char* kNameLabel = "app.kubernetes.io/name";
inline constexpr const char* kWorkerName = "usp-worker";
inline constexpr const char* kJobConfigKey = "job.json";
inline constexpr const char* kConfigMountPath = "/etc/usp";

// How worker pods are run: operator flags (see README.md).
struct WorkerOptions {
  std::string image = "ghcr.io/usp/usp:0.1.0";
  std::string image_pull_policy = "IfNotPresent";
  std::vector<std::string> image_pull_secrets;
  std::string service_account;  // empty: the namespace's default
  std::string command = "usp-runtime";
  int http_port = 8081;
  std::string kafka_bootstrap;
  std::vector<std::string> kafka_properties;  // "key=value" librdkafka settings
  nlohmann::json resources;                   // container resources; null: none
  std::map<std::string, std::string> extra_labels;  // on Deployments and pods
  // Kafka credentials, as Secrets the pods reference (never copied).
  std::string sasl_secret;
  std::string sasl_username_key = "username";
  std::string sasl_password_key = "password";
  std::string tls_ca_secret;
  std::string tls_ca_key = "ca.crt";
  std::string tls_client_secret;
  int64_t run_as_user = 65532;
  // A deleted worker pod keeps running this long (a preStop `sleep`) before
  // SIGTERM, so the failover controller revokes its partitions (drained and
  // committed) while it still works normally. 0: no hook.
  int prestop_sleep_seconds = 2;
};

// The ConfigMap and Deployment of a job: "usp-<job>" for a UserSignal,
// "usp-segment-<job>" for a UserSegment, "usp-session-<job>" for a
// SessionJob (names are unique per kind only, so the kinds do not collide).
std::string WorkloadName(const std::string& job);  // a UserSignal's
std::string WorkloadName(const std::string& kind, const std::string& job);

// Where stateful workers keep their RocksDB state: on the `state` emptyDir.
inline constexpr const char* kStateDir = "/var/lib/usp/state";

// FNV-1a 64 of the text, as 16 hex digits. Stable across releases: it is
// stored in annotations.
std::string ConfigHash(std::string_view text);

// Labels selecting a job's pods (immutable once the Deployment exists).
nlohmann::json SelectorLabels(const std::string& kind, const std::string& job);

// The ConfigMap holding the normalized job config under "job.json".
nlohmann::json DesiredConfigMap(const nlohmann::json& owner, const std::string& job_config,
                                const WorkerOptions& options);

// The worker Deployment: `replicas` pods (actives + standbys) running
// `usp-runtime worker`, the config mounted at /etc/usp, restricted pod
// security, probes, and the config hash on the pod template so a config
// change rolls the pods. `job_args` (e.g. --state-dir, --signal-topic) follow
// the common worker flags.
nlohmann::json DesiredDeployment(const nlohmann::json& owner, int32_t replicas,
                                 const std::string& config_hash, const WorkerOptions& options,
                                 const std::vector<std::string>& job_args = {});

}  // namespace usp::op
