#pragma once
// UserSignal -> ConfigMap + Deployment, flink-kubernetes-operator style:
//   observe   read the UserSignal, its ConfigMap and Deployment
//   validate  core::ParseUserSignal; invalid -> Ready=False/InvalidSpec with
//             the field paths, and no workload is touched
//   reconcile ensure the finalizer, the ConfigMap (normalized job.json) and
//             the Deployment (parallelism + standbyReplicas pods, config
//             hash on the template); keep the query catalog current
//   failover  the job's JobController (operator/failover) follows the spec:
//             parallelism, partitions, probe interval and threshold
//   status    observedGeneration, conditions, replicas, partitions, and the
//             controller's assignment, last failover and failover count
// Deletion: owner references let the cluster delete the workloads; the
// finalizer `usp.dev/cleanup` covers what it cannot (the catalog entry).
// Every update carries the resourceVersion it was computed from; a 409
// re-reads the object and tries again.

#include <chrono>
#include <string>
#include <vector>

#include "operator/controller/clock.h"
#include "operator/controller/reconciler.h"
#include "operator/failover/failover_manager.h"
#include "operator/kube/kube_client.h"
#include "operator/reconcile/event_recorder.h"
#include "operator/reconcile/job_status.h"
#include "operator/reconcile/query_catalog.h"
#include "operator/reconcile/workload.h"

namespace usp::op {

struct UserSignalReconcilerOptions {
  WorkerOptions worker;
  int32_t partitions = 8;               // partitions of the output topics (status.partitions)
  std::vector<std::string> namespaces;  // watched namespaces; empty: all (for the catalog)
  CatalogOptions catalog;
  // Look again this soon while workers are not ready (watches on the
  // Deployment usually come first).
  std::chrono::milliseconds not_ready_requeue{10'000};
};

class UserSignalReconciler : public Reconciler {
 public:
  // `failover` may be null (no partition control: workers keep what they
  // were started with).
  UserSignalReconciler(kube::KubeClient* client, const Clock* clock, EventRecorder* events,
                       UserSignalReconcilerOptions options, FailoverManager* failover = nullptr);

  std::string Kind() const override { return "UserSignal"; }
  Result<ReconcileResult> Reconcile(const kube::ObjectKey& key) override;

 private:
  // Applies `mutate` to the fresh object and PUTs it, re-reading on 409.
  // `mutate` returns false when no change is needed.
  Result<nlohmann::json> UpdateWithRetry(const kube::ObjectKey& key,
                                         const std::function<bool(nlohmann::json*)>& mutate);
  Result<nlohmann::json> EnsureConfigMap(const nlohmann::json& owner, const std::string& job_config);
  Result<nlohmann::json> EnsureDeployment(const nlohmann::json& owner, int32_t replicas,
                                          const std::string& config_hash);
  // Rebuilds the catalog from every UserSignal (those being deleted excluded).
  Status SyncCatalog();
  Result<ReconcileResult> Finalize(const kube::ObjectKey& key);

  kube::KubeClient* const client_;
  const Clock* const clock_;
  EventRecorder* const events_;
  const UserSignalReconcilerOptions options_;
  FailoverManager* const failover_;
};

// Status-only reconciler for kinds this version does not run yet
// (UserSegment, SessionJob): Ready=False, reason Unsupported.
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
