#pragma once
// A job resource (UserSignal, UserSegment, SessionJob: a JobKind, see
// job_kind.h) -> ConfigMap + Deployment, flink-kubernetes-operator style:
//   observe   read the resource, its ConfigMap and Deployment
//   validate  the kind's parser (core::ParseUserSignal, ...); invalid ->
//             Ready=False/InvalidSpec with the field paths, and no workload
//             is touched
//   resolve   segments and sessions: every UserSignal they name must exist
//             in their namespace (else Ready=False/SignalNotFound naming the
//             field, workloads untouched); a custom outputTopic becomes a
//             --signal-topic flag
//   reconcile ensure the finalizer, the ConfigMap (normalized job.json) and
//             the Deployment (parallelism + standbyReplicas pods, config
//             hash on the template, --state-dir on the `state` emptyDir for
//             stateful jobs); keep the query catalog current (UserSignals)
//   failover  the job's JobController (operator/failover) follows the spec:
//             parallelism, partitions, probe interval and threshold
//   alerts    opt-in (options.prometheus_rules): the job's PrometheusRule
//             (prometheus_rule.h); skipped quietly where the type is not served
//   status    observedGeneration, conditions, replicas, partitions, and the
//             controller's assignment, last failover and failover count
// Deletion: owner references let the cluster delete the workloads; the
// finalizer `usp.dev/cleanup` covers what it cannot (the catalog entry).
// Every update carries the resourceVersion it was computed from; a 409
// re-reads the object and tries again.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "operator/controller/clock.h"
#include "operator/controller/reconciler.h"
#include "operator/failover/failover_manager.h"
#include "operator/kube/kube_client.h"
#include "operator/reconcile/event_recorder.h"
#include "operator/reconcile/job_kind.h"
#include "operator/reconcile/job_status.h"
#include "operator/reconcile/prometheus_rule.h"
#include "operator/reconcile/query_catalog.h"
#include "operator/reconcile/workload.h"

namespace usp::op {

struct JobReconcilerOptions {
  WorkerOptions worker;
  int32_t partitions = 8;               // partitions of the output topics (status.partitions)
  std::vector<std::string> namespaces;  // watched namespaces; empty: all (for the catalog)
  CatalogOptions catalog;
  PrometheusRuleOptions prometheus_rules;  // off by default
  // Look again this soon while workers are not ready (watches on the
  // Deployment usually come first).
  std::chrono::milliseconds not_ready_requeue{10'000};
};
using UserSignalReconcilerOptions = JobReconcilerOptions;

class JobReconciler : public Reconciler {
 public:
  // `kind` must outlive the reconciler (the JobKind singletons do).
  // `failover` may be null (no partition control: workers keep what they
  // were started with).
  JobReconciler(kube::KubeClient* client, const Clock* clock, EventRecorder* events, const JobKind& kind,
                JobReconcilerOptions options, FailoverManager* failover = nullptr);

  std::string Kind() const override { return kind_.resource.kind; }
  Result<ReconcileResult> Reconcile(const kube::ObjectKey& key) override;

 private:
  // Applies `mutate` to the fresh object and PUTs it, re-reading on 409.
  // `mutate` returns false when no change is needed.
  Result<nlohmann::json> UpdateWithRetry(const kube::ObjectKey& key,
                                         const std::function<bool(nlohmann::json*)>& mutate);
  Result<nlohmann::json> EnsureConfigMap(const nlohmann::json& owner, const std::string& job_config);
  Result<nlohmann::json> EnsureDeployment(const nlohmann::json& owner, int32_t replicas,
                                          const std::string& config_hash,
                                          const std::vector<std::string>& job_args);
  // The output topic of each UserSignal the job reads (name, topic); the
  // fields naming a missing one are reported in `missing`.
  Result<std::vector<std::pair<std::string, std::string>>> ResolveSignals(const std::string& ns, const JobSpec& job,
                                                                         std::string* missing);
  // Rebuilds the catalog from every UserSignal (those being deleted excluded).
  Status SyncCatalog();
  Result<ReconcileResult> Finalize(const kube::ObjectKey& key);

  kube::KubeClient* const client_;
  const Clock* const clock_;
  EventRecorder* const events_;
  const JobKind& kind_;
  const JobReconcilerOptions options_;
  FailoverManager* const failover_;
  std::unique_ptr<PrometheusRuleSync> rules_;  // null unless options.prometheus_rules.enabled
};

// The UserSignal reconciler (the catalog's owner).
class UserSignalReconciler : public JobReconciler {
 public:
  UserSignalReconciler(kube::KubeClient* client, const Clock* clock, EventRecorder* events,
                       JobReconcilerOptions options, FailoverManager* failover = nullptr)
      : JobReconciler(client, clock, events, UserSignalKind(), std::move(options), failover) {}
};

// Status-only reconciler for kinds an operator does not run:
// Ready=False, reason Unsupported. (Kept for kinds without a JobKind.)
class UnsupportedKindReconciler : public Reconciler {
 public:
  UnsupportedKindReconciler(kube::KubeClient* client, const Clock* clock, EventRecorder* events,
                            kube::ResourceDescriptor resource, int32_t partitions)
      : client_(client), clock_(clock), events_(events), resource_(std::move(resource)), partitions_(partitions) {}
  std::string Kind() const override { return resource_.kind; }
  Result<ReconcileResult> Reconcile(const kube::ObjectKey& key) override;

 private:
  kube::KubeClient* const client_;
  const Clock* const clock_;
  EventRecorder* const events_;
  const kube::ResourceDescriptor resource_;
  const int32_t partitions_;
};

}  // namespace usp::op
