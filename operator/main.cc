// usp-operator: the control plane on Kubernetes. Production wiring lives
// here: flags -> Kubernetes client -> leader election -> controllers, plus
// the /metrics /healthz /readyz endpoint. See README.md for the flags.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/duration.h"
#include "operator/controller/clock.h"
#include "operator/controller/controller_metrics.h"
#include "operator/controller/leader_election.h"
#include "operator/kube/kube_config.h"
#include "operator/kube/rest_kube_client.h"
#include "operator/manager.h"
#include "operator/reconcile/event_recorder.h"
#include "operator/reconcile/prometheus_rule.h"
#include "runtime/common/files.h"
#include "runtime/common/logging.h"
#include "runtime/common/metrics.h"
#include "runtime/common/shutdown.h"
#include "runtime/control/worker_client.h"
#include "runtime/http/http_server.h"

namespace usp::op {
namespace {

struct Flags {
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> namespaces;
  bool leader_elect = false;
  std::string leader_election_id = "usp-operator";
  std::string leader_election_namespace;
  std::string identity;
  std::string lease_duration = "15s";
  std::string renew_deadline = "10s";
  std::string retry_period = "2s";
  std::string http_address = "0.0.0.0";
  int http_port = 8080;
  std::string port_file;
  std::string log_level;
  int workers = 2;
  std::string resync_period = "10m";
  WorkerOptions worker;
  std::string worker_resources;
  std::string worker_labels;
  int32_t partitions = 8;
  std::string catalog_name = "usp-query-catalog";
  std::string catalog_namespace;
  bool report_unsupported = true;
  PrometheusRuleOptions prometheus_rules;
};

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

Result<std::chrono::milliseconds> Millis(const std::string& flag, const std::string& text) {
  auto ms = ParseDurationMs(text);
  if (!ms.ok()) return Status::InvalidArgument(flag + ": " + ms.status().message());
  return std::chrono::milliseconds(*ms);
}

Result<std::map<std::string, std::string>> ParseLabels(const std::string& text) {
  std::map<std::string, std::string> labels;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--worker-labels: expected k=v, got '" + item + "'");
    labels[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return labels;
}

std::string DefaultIdentity() {
  std::string pod = Env("POD_NAME");
  char host[256] = {0};
  if (pod.empty() && gethostname(host, sizeof(host) - 1) == 0) pod = host;
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%06x", rd() & 0xFFFFFF);
  return (pod.empty() ? "usp-operator" : pod) + "_" + suffix;
}

int Run(Flags& flags) {
  InitLogging("operator");
  if (!flags.log_level.empty()) spdlog::set_level(spdlog::level::from_str(flags.log_level));
  InstallShutdownHandlers();

  auto lease_duration = Millis("--lease-duration", flags.lease_duration);
  auto renew_deadline = Millis("--renew-deadline", flags.renew_deadline);
  auto retry_period = Millis("--retry-period", flags.retry_period);
  auto resync = Millis("--resync-period", flags.resync_period);
  for (const auto* r : {&lease_duration, &renew_deadline, &retry_period, &resync}) {
    if (!r->ok()) {
      spdlog::error("{}", r->status().message());
      return 2;
    }
  }
  if (*renew_deadline >= *lease_duration || *retry_period >= *renew_deadline) {
    spdlog::error("need --retry-period < --renew-deadline < --lease-duration");
    return 2;
  }
  if (Status t = monitoring::Validate(flags.prometheus_rules.thresholds); !t.ok()) {
    // The thresholds' fields are the flags' names: latency_seconds -> --alert-latency-seconds.
    std::string field = t.message().substr(0, t.message().find(':'));
    std::replace(field.begin(), field.end(), '_', '-');
    spdlog::error("--alert-{}{}", field, t.message().substr(field.size()));
    return 2;
  }
  if (!flags.worker_resources.empty()) {
    flags.worker.resources = nlohmann::json::parse(flags.worker_resources, nullptr, false);
    if (flags.worker.resources.is_discarded() || !flags.worker.resources.is_object()) {
      spdlog::error("--worker-resources: not a JSON object: {}", flags.worker_resources);
      return 2;
    }
  }
  auto labels = ParseLabels(flags.worker_labels);
  if (!labels.ok()) {
    spdlog::error("{}", labels.status().message());
    return 2;
  }
  flags.worker.extra_labels = *labels;
  if (flags.worker.kafka_bootstrap.empty()) flags.worker.kafka_bootstrap = Env("USP_KAFKA_BOOTSTRAP");
  if (flags.worker.kafka_bootstrap.empty()) {
    spdlog::error("--kafka-bootstrap (or USP_KAFKA_BOOTSTRAP) is required: workers need Kafka");
    return 2;
  }

  auto config = kube::LoadDefaultConfig(flags.kubeconfig, flags.context);
  if (!config.ok()) {
    spdlog::error("kubernetes configuration: {}", config.status().ToString());
    return 2;
  }
  const std::string own_namespace =
      Env("POD_NAMESPACE", config->namespace_.empty() ? "default" : config->namespace_);
  kube::RestClientOptions client_options;
  // A renewal must fail before the renew deadline, not hang past it.
  client_options.request_timeout =
      std::chrono::seconds(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(*renew_deadline).count() / 2));
  auto client = kube::NewRestKubeClient(*config, client_options);
  if (!client.ok()) {
    spdlog::error("kubernetes client: {}", client.status().ToString());
    return 2;
  }
  kube::KubeClient* kube = client->get();
  spdlog::info("API server {}", config->server);

  SystemClock clock;
  MetricsRegistry registry;
  ControllerMetrics metrics(registry.registry());
  if (flags.identity.empty()) flags.identity = DefaultIdentity();
  KubeEventRecorder events(kube, &clock, "usp-operator", flags.identity);

  ManagerOptions options;
  options.user_signal.worker = flags.worker;
  options.user_signal.partitions = flags.partitions;
  options.user_signal.namespaces = flags.namespaces;
  options.user_signal.catalog.enabled = !flags.catalog_name.empty();
  options.user_signal.catalog.name = flags.catalog_name;
  options.user_signal.catalog.ns = flags.catalog_namespace.empty() ? own_namespace : flags.catalog_namespace;
  options.user_signal.prometheus_rules = flags.prometheus_rules;
  options.workers = flags.workers;
  options.resync_period = *resync;
  options.report_unsupported_kinds = flags.report_unsupported;
  // Partition control of the workers (GET /status, PUT /assignment).
  std::unique_ptr<WorkerClient> worker_client = NewHttpWorkerClient();
  OperatorManager manager(kube, &clock, &events, &metrics, options, worker_client.get(), &registry);

  std::atomic<bool> leading{false};
  auto server = HttpServer::Start(flags.http_address, static_cast<uint16_t>(flags.http_port), 1,
                                  [&](const HttpRequest& req) -> HttpResponse {
    if (req.path == "/metrics") return {200, "text/plain; version=0.0.4", registry.Serialize()};
    if (req.path == "/healthz") return {200, "text/plain", "ok\n"};
    if (req.path == "/readyz") {
      // A standby (not leading) is ready: it is a hot spare.
      if (!leading || manager.Synced()) return {200, "text/plain", "ok\n"};
      return {503, "text/plain", "informers not synced\n"};
    }
    return JsonError(404, "not_found", "no route " + req.path);
  });
  if (!server.ok()) {
    spdlog::error("http: {}", server.status().ToString());
    return 2;
  }
  spdlog::info("metrics and health on {}:{}", flags.http_address, (*server)->port());
  if (!flags.port_file.empty()) {
    Status written = WriteFileAtomically(flags.port_file, std::to_string((*server)->port()) + "\n");
    if (!written.ok()) spdlog::warn("port file: {}", written.ToString());
  }

  auto start = [&] {
    leading = true;
    metrics.SetLeader(true);
    manager.Start();
  };
  auto stop = [&] {
    manager.Stop();
    leading = false;
    metrics.SetLeader(false);
  };
  int exit_code = 0;
  if (flags.leader_elect) {
    LeaderElectionConfig le;
    le.lease_namespace = flags.leader_election_namespace.empty() ? own_namespace : flags.leader_election_namespace;
    le.lease_name = flags.leader_election_id;
    le.identity = flags.identity;
    le.lease_duration = *lease_duration;
    le.renew_deadline = *renew_deadline;
    le.retry_period = *retry_period;
    LeaderElector elector(kube, &clock, le);
    spdlog::info("leader election: {} waiting for lease {}/{}", le.identity, le.lease_namespace, le.lease_name);
    // Losing the lease ends the process (like controller-runtime): a fresh
    // start is the simplest way to be sure no controller keeps running.
    if (!elector.Run([] { return ShutdownRequested(); }, start, stop)) exit_code = 1;
  } else {
    spdlog::warn("leader election disabled: run a single replica");
    start();
    while (!ShutdownRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop();
  }
  (*server)->Stop();
  spdlog::info("usp-operator exiting ({})", exit_code);
  return exit_code;
}

}  // namespace
}  // namespace usp::op

int main(int argc, char** argv) {
  usp::op::Flags flags;
  CLI::App app{"usp-operator: reconciles UserSignal resources to worker Deployments"};
  app.set_version_flag("--version", "usp-operator 0.1.0");
  app.add_option("--kubeconfig", flags.kubeconfig, "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  app.add_option("--context", flags.context, "kubeconfig context (default: current-context)");
  app.add_option("--namespace", flags.namespaces, "namespace to watch (repeatable; default: all)");
  app.add_flag("--leader-elect", flags.leader_elect, "elect a leader on a Lease; only the leader reconciles");
  app.add_option("--leader-election-id", flags.leader_election_id, "Lease name")->capture_default_str();
  app.add_option("--leader-election-namespace", flags.leader_election_namespace,
                 "Lease namespace (default: $POD_NAMESPACE, the kubeconfig's namespace, default)");
  app.add_option("--leader-election-identity", flags.identity, "holder identity (default: $POD_NAME or hostname + random)");
  app.add_option("--lease-duration", flags.lease_duration, "how long a lease lasts without renewal")->capture_default_str();
  app.add_option("--renew-deadline", flags.renew_deadline, "the leader gives up when it cannot renew for this long")
      ->capture_default_str();
  app.add_option("--retry-period", flags.retry_period, "interval of acquire and renew attempts")->capture_default_str();
  app.add_option("--http-address", flags.http_address, "address of /metrics /healthz /readyz")->capture_default_str();
  app.add_option("--http-port", flags.http_port, "port of /metrics /healthz /readyz (0 picks one)")->capture_default_str();
  app.add_option("--port-file", flags.port_file, "write the bound HTTP port here");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error (default: $USP_LOG_LEVEL or info)");
  app.add_option("--workers", flags.workers, "concurrent reconciles per kind")->capture_default_str();
  app.add_option("--resync-period", flags.resync_period, "re-reconcile every object this often")->capture_default_str();
  app.add_option("--worker-image", flags.worker.image, "image of worker pods")->capture_default_str();
  app.add_option("--worker-image-pull-policy", flags.worker.image_pull_policy, "imagePullPolicy of worker pods")
      ->capture_default_str();
  app.add_option("--worker-image-pull-secret", flags.worker.image_pull_secrets, "imagePullSecret of worker pods (repeatable)");
  app.add_option("--worker-service-account", flags.worker.service_account, "ServiceAccount of worker pods");
  app.add_option("--worker-resources", flags.worker_resources, "container resources of worker pods (JSON)");
  app.add_option("--worker-http-port", flags.worker.http_port, "the workers' status/health port")->capture_default_str();
  app.add_option("--worker-labels", flags.worker_labels, "extra labels of worker pods, k=v,...");
  app.add_option("--worker-command", flags.worker.command, "the worker binary in the image")->capture_default_str();
  app.add_option("--worker-prestop-sleep", flags.worker.prestop_sleep_seconds,
                 "seconds a deleted worker pod keeps running before SIGTERM, so its partitions are revoked "
                 "(drained, committed) first; 0: no preStop hook")
      ->check(CLI::Range(0, 25))
      ->capture_default_str();
  app.add_option("--kafka-bootstrap", flags.worker.kafka_bootstrap, "Kafka bootstrap servers (default: $USP_KAFKA_BOOTSTRAP)");
  app.add_option("--kafka-partitions", flags.partitions, "partitions of the output topics")->capture_default_str();
  app.add_option("-X,--kafka-property", flags.worker.kafka_properties,
                 "librdkafka property KEY=VALUE, forwarded to workers (repeatable)");
  app.add_option("--kafka-sasl-secret", flags.worker.sasl_secret, "Secret with SASL credentials for workers");
  app.add_option("--kafka-sasl-username-key", flags.worker.sasl_username_key, "its username key")->capture_default_str();
  app.add_option("--kafka-sasl-password-key", flags.worker.sasl_password_key, "its password key")->capture_default_str();
  app.add_option("--kafka-tls-ca-secret", flags.worker.tls_ca_secret, "Secret with the Kafka CA, mounted in workers");
  app.add_option("--kafka-tls-ca-key", flags.worker.tls_ca_key, "its key")->capture_default_str();
  app.add_option("--kafka-tls-client-secret", flags.worker.tls_client_secret, "kubernetes.io/tls Secret for Kafka mTLS");
  app.add_option("--query-catalog-configmap", flags.catalog_name, "the query catalog ConfigMap ('' disables)")
      ->capture_default_str();
  app.add_option("--query-catalog-namespace", flags.catalog_namespace, "its namespace (default: the operator's)");
  app.add_flag("!--no-unsupported-status", flags.report_unsupported,
               "reconcile UserSignals only: leave UserSegments and SessionJobs alone");
  auto& rules = flags.prometheus_rules;
  app.add_flag("--create-prometheus-rules", rules.enabled,
               "keep a PrometheusRule (monitoring.coreos.com/v1) with the three alerts of each job; "
               "skipped while the cluster does not serve PrometheusRules");
  app.add_option("--alert-written-drop-ratio", rules.thresholds.written_drop_ratio,
                 "UspEventsWrittenAnomaly: written rate below this x its baseline")->capture_default_str();
  app.add_option("--alert-written-baseline-window", rules.thresholds.written_baseline_window,
                 "UspEventsWrittenAnomaly: the baseline window (e.g. 1h, 1w)")->capture_default_str();
  app.add_option("--alert-latency-quantile", rules.thresholds.latency_quantile,
                 "UspOverallLatencyHigh: quantile of usp_event_latency_seconds")->capture_default_str();
  app.add_option("--alert-latency-seconds", rules.thresholds.latency_seconds,
                 "UspOverallLatencyHigh: threshold in seconds")->capture_default_str();
  app.add_option("--alert-min-success-ratio", rules.thresholds.min_success_ratio,
                 "UspSuccessRateLow: 1 - failed/consumed below this")->capture_default_str();
  app.add_option("--alert-severity", rules.thresholds.severity, "severity label of the alerts")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return usp::op::Run(flags);
}
