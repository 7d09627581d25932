#include "operator/reconcile/user_signal_reconciler.h"

#include <spdlog/spdlog.h>

#include "operator/kube/object.h"
#include "operator/reconcile/conditions.h"
#include "operator/reconcile/status_writer.h"

namespace usp::op {

using nlohmann::json;

namespace {

constexpr int kConflictAttempts = 5;

std::string JoinErrors(const FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.ToString();
  }
  return out;
}

// Desired labels/annotations present, and the object is ours.
bool MetadataCurrent(const json& existing, const json& desired, const json& owner) {
  const json& em = existing["metadata"];
  const json& dm = desired["metadata"];
  return kube::IsControlledBy(existing, owner) &&
         kube::JsonContains(em.value("labels", json::object()), dm.value("labels", json::object())) &&
         kube::JsonContains(em.value("annotations", json::object()), dm.value("annotations", json::object()));
}

void MergeMetadata(json* existing, const json& desired, const json& owner) {
  json& em = (*existing)["metadata"];
  const json& dm = desired["metadata"];
  for (const char* field : {"labels", "annotations"}) {
    if (!em.contains(field) || !em[field].is_object()) em[field] = json::object();
    const json wanted = dm.value(field, json::object());
    for (auto it = wanted.begin(); it != wanted.end(); ++it) em[field][it.key()] = it.value();
  }
  if (!kube::IsControlledBy(*existing, owner)) {
    json refs = json::array({kube::ControllerReference(owner)});
    for (const auto& ref : em.value("ownerReferences", json::array())) {
      if (!ref.value("controller", false)) refs.push_back(ref);
    }
    em["ownerReferences"] = refs;
  }
}

// An object of the same name that someone else controls is never taken over.
bool OwnedBySomeoneElse(const json& existing, const json& owner) {
  if (kube::IsControlledBy(existing, owner)) return false;
  for (const auto& ref : existing["metadata"].value("ownerReferences", json::array())) {
    if (ref.value("controller", false)) return true;
  }
  // Unowned but labelled as ours (e.g. orphaned by `kubectl delete
  // --cascade=orphan` of an earlier incarnation): adopt it.
  return kube::Label(existing, kJobLabel) != kube::Name(owner);
}

}  // namespace

JobReconciler::JobReconciler(kube::KubeClient* client, const Clock* clock, EventRecorder* events,
                             const JobKind& kind, JobReconcilerOptions options, FailoverManager* failover)
    : client_(client),
      clock_(clock),
      events_(events),
      kind_(kind),
      options_(std::move(options)),
      failover_(failover) {
  if (options_.prometheus_rules.enabled) {
    rules_ = std::make_unique<PrometheusRuleSync>(client_, options_.prometheus_rules.thresholds);
  }
}

Result<json> JobReconciler::UpdateWithRetry(const kube::ObjectKey& key,
                                                   const std::function<bool(json*)>& mutate) {
  for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
    auto got = client_->Get(kind_.resource, key.ns, key.name);
    if (!got.ok()) return got.error().ToStatus();
    json obj = std::move(got).value();
    if (!mutate(&obj)) return obj;
    auto updated = client_->Update(kind_.resource, key.ns, obj);
    if (updated.ok()) return std::move(updated).value();
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
  }
  return Status::Unavailable("update of " + key.ToString() + ": conflicts persisted");
}

Status JobReconciler::SyncCatalog() {
  if (!kind_.in_catalog || !options_.catalog.enabled) return Status::Ok();
  std::vector<json> all;
  std::vector<std::string> namespaces = options_.namespaces;
  if (namespaces.empty()) namespaces.push_back("");
  for (const auto& ns : namespaces) {
    for (const JobKind* kind : {&UserSignalKind(), &UserSegmentKind(), &SessionJobKind()}) {
      auto list = client_->List(kind->resource, ns, {});
      // UserSegment/SessionJob CRDs may not be installed.
      if (!list.ok() && list.error().IsNotFound() && kind != &UserSignalKind()) continue;
      if (!list.ok()) return list.error().ToStatus();
      for (auto& item : (*list)["items"]) {
        if (!item.contains("kind")) item["kind"] = kind->resource.kind;  // list items may omit it
        all.push_back(std::move(item));
      }
    }
  }
  return usp::op::SyncCatalog(client_, options_.catalog, all);
}

Result<ReconcileResult> JobReconciler::Finalize(const kube::ObjectKey& key) {
  Status catalog = SyncCatalog();
  if (!catalog.ok()) return catalog;
  auto removed = UpdateWithRetry(key, [](json* obj) { return kube::RemoveFinalizer(obj, kFinalizer); });
  if (!removed.ok() && removed.status().code() != Status::Code::kNotFound) return removed.status();
  spdlog::info("{} {}: cleaned up, finalizer removed", kind_.resource.kind, key.ToString());
  return ReconcileResult{};
}

Result<json> JobReconciler::EnsureConfigMap(const json& owner, const std::string& job_config) {
  const json desired = DesiredConfigMap(owner, job_config, options_.worker);
  const std::string ns = kube::Namespace(owner);
  const std::string name = kube::Name(desired);
  for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
    auto got = client_->Get(kube::ConfigMaps(), ns, name);
    if (!got.ok() && got.error().IsNotFound()) {
      auto created = client_->Create(kube::ConfigMaps(), ns, desired);
      if (created.ok()) return std::move(created).value();
      if (created.error().IsAlreadyExists()) continue;
      return created.error().ToStatus();
    }
    if (!got.ok()) return got.error().ToStatus();
    json existing = std::move(got).value();
    if (OwnedBySomeoneElse(existing, owner)) {
      return Status::InvalidArgument("ConfigMap " + name + " exists and is not controlled by this " +
                                     kind_.resource.kind);
    }
    if (existing.value("data", json::object()) == desired["data"] && MetadataCurrent(existing, desired, owner)) {
      return existing;
    }
    existing["data"] = desired["data"];
    MergeMetadata(&existing, desired, owner);
    auto updated = client_->Update(kube::ConfigMaps(), ns, existing);
    if (updated.ok()) return std::move(updated).value();
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
  }
  return Status::Unavailable("ConfigMap " + ns + "/" + name + ": conflicts persisted");
}

Result<json> JobReconciler::EnsureDeployment(const json& owner, int32_t replicas, const std::string& config_hash,
                                             const std::vector<std::string>& job_args) {
  const json desired = DesiredDeployment(owner, replicas, config_hash, options_.worker, job_args);
  const std::string ns = kube::Namespace(owner);
  const std::string name = kube::Name(desired);
  for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
    auto got = client_->Get(kube::Deployments(), ns, name);
    if (!got.ok() && got.error().IsNotFound()) {
      auto created = client_->Create(kube::Deployments(), ns, desired);
      if (created.ok()) {
        events_->Record(owner, "Normal", "Created",
                        "Created Deployment " + name + " with " + std::to_string(replicas) + " workers");
        return std::move(created).value();
      }
      if (created.error().IsAlreadyExists()) continue;
      return created.error().ToStatus();
    }
    if (!got.ok()) return got.error().ToStatus();
    json existing = std::move(got).value();
    if (OwnedBySomeoneElse(existing, owner)) {
      return Status::InvalidArgument("Deployment " + name + " exists and is not controlled by this " +
                                     kind_.resource.kind);
    }
    if (kube::JsonContains(existing["spec"], desired["spec"]) && MetadataCurrent(existing, desired, owner)) {
      return existing;
    }
    const int64_t old_replicas = existing["spec"].value("replicas", 1);
    json& spec = existing["spec"];
    for (const char* field : {"replicas", "template", "strategy", "revisionHistoryLimit"}) {
      spec[field] = desired["spec"][field];
    }
    MergeMetadata(&existing, desired, owner);
    auto updated = client_->Update(kube::Deployments(), ns, existing);
    if (updated.ok()) {
      std::string what = old_replicas != replicas ? "replicas " + std::to_string(old_replicas) + " -> " +
                                                        std::to_string(replicas)
                                                  : "pod template (config " + config_hash + ")";
      events_->Record(owner, "Normal", "Updated", "Updated Deployment " + name + ": " + what);
      return std::move(updated).value();
    }
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
  }
  return Status::Unavailable("Deployment " + ns + "/" + name + ": conflicts persisted");
}

Result<std::vector<std::pair<std::string, std::string>>> JobReconciler::ResolveSignals(const std::string& ns,
                                                                                      const JobSpec& job,
                                                                                      std::string* missing) {
  std::vector<std::pair<std::string, std::string>> topics;
  for (const auto& ref : job.signals) {
    auto signal = client_->Get(kube::UserSignals(), ns, ref.name);
    if (!signal.ok()) {
      if (!signal.error().IsNotFound()) return signal.error().ToStatus();
      if (!missing->empty()) *missing += "; ";
      *missing += ref.field + ": no UserSignal \"" + ref.name + "\" in namespace " + ns;
      continue;
    }
    topics.emplace_back(ref.name, SignalOutputTopic(*signal));
  }
  return topics;
}

Result<ReconcileResult> JobReconciler::Reconcile(const kube::ObjectKey& key) {
  const std::string& kind = kind_.resource.kind;
  // Observe.
  auto got = client_->Get(kind_.resource, key.ns, key.name);
  if (!got.ok()) {
    if (!got.error().IsNotFound()) return got.error().ToStatus();
    // Gone (its finalizer already handled, or removed by hand): make sure
    // the catalog forgot it; the workloads are garbage-collected.
    if (failover_ != nullptr) failover_->Forget(key, kind);
    USP_RETURN_IF_ERROR(SyncCatalog());
    return ReconcileResult{};
  }
  json obj = std::move(got).value();
  if (kube::IsBeingDeleted(obj)) {
    if (failover_ != nullptr) failover_->Forget(key, kind);
    if (!kube::HasFinalizer(obj, kFinalizer)) return ReconcileResult{};
    return Finalize(key);
  }
  if (!kube::HasFinalizer(obj, kFinalizer)) {
    auto with = UpdateWithRetry(key, [](json* o) { return !kube::IsBeingDeleted(*o) && kube::AddFinalizer(o, kFinalizer); });
    if (!with.ok()) return with.status();
    obj = std::move(with).value();
    if (kube::IsBeingDeleted(obj)) return ReconcileResult{true, {}};
  }

  JobObservation observed;
  observed.generation = kube::Generation(obj);
  observed.partitions = options_.partitions;
  const std::string workload = WorkloadName(kind, key.name);
  auto deployment = client_->Get(kube::Deployments(), key.ns, workload);
  if (deployment.ok()) {
    observed.deployment = *deployment;
  } else if (!deployment.error().IsNotFound()) {
    return deployment.error().ToStatus();
  }

  // Validate, then resolve the UserSignals the job reads.
  FieldErrors errors;
  auto job = kind_.parse(obj, &errors);
  Status catalog = SyncCatalog();
  if (!catalog.ok()) spdlog::warn("query catalog: {}", catalog.ToString());
  std::vector<std::pair<std::string, std::string>> signal_topics;
  if (!job) {
    observed.invalid_spec = JoinErrors(errors);
  } else {
    std::string missing;
    auto resolved = ResolveSignals(key.ns, *job, &missing);
    if (!resolved.ok()) return resolved.status();
    signal_topics = std::move(resolved).value();
    if (!missing.empty()) observed.missing_signals = missing;
  }
  if (observed.invalid_spec || observed.missing_signals) {
    // The workloads are left alone, and so are the workers' assignments.
    if (failover_ != nullptr) failover_->Forget(key, kind);
    if (job) {
      observed.parallelism = job->parallelism;
      observed.standby_replicas = job->standby_replicas;
    }
    auto written = WriteJobStatus(client_, kind_.resource, obj, observed, clock_, events_);
    if (!written.ok()) return written.status();
    if (written->stale) return ReconcileResult{true, {}};
    return ReconcileResult{};  // a spec change (or the UserSignal's creation) brings us back
  }
  observed.parallelism = job->parallelism;
  observed.standby_replicas = job->standby_replicas;

  // Reconcile.
  const std::string job_config = job->config.dump(2) + "\n";
  const std::string hash = ConfigHash(job_config);
  Status workload_status = Status::Ok();
  auto cm = EnsureConfigMap(obj, job_config);
  if (!cm.ok()) {
    workload_status = cm.status();
  } else {
    auto dep = EnsureDeployment(obj, job->parallelism + job->standby_replicas, hash,
                                JobWorkerArgs(*job, signal_topics));
    if (dep.ok()) {
      observed.deployment = std::move(dep).value();
    } else {
      workload_status = dep.status();
    }
  }
  if (!workload_status.ok()) {
    observed.workload_error = workload_status.message();
    events_->Record(obj, "Warning", "ReconcileError", workload_status.message());
  }
  // Alerts: never in the way of the workers or the status.
  Status rules_status = Status::Ok();
  if (rules_ != nullptr) {
    auto rule = rules_->Ensure(obj);
    if (!rule.ok()) {
      rules_status = rule.status();
      events_->Record(obj, "Warning", "PrometheusRuleError", rules_status.message());
    } else if (*rule == PrometheusRuleSync::Outcome::kCreated) {
      events_->Record(obj, "Normal", "Created",
                      "Created PrometheusRule " + monitoring::PrometheusRuleName({kind, key.name, key.ns}));
    }
  }
  if (failover_ != nullptr) {
    JobFailoverSpec spec;
    spec.parallelism = job->parallelism;
    spec.num_partitions = options_.partitions;
    spec.policy.probe_interval_ms = job->failover.probe_interval_ms;
    spec.policy.failure_threshold = job->failover.failure_threshold;
    failover_->Sync(obj, spec);
    if (auto fs = failover_->Status(key, kind)) {
      observed.assignment = std::move(fs->assignment);
      observed.last_failover = std::move(fs->last_failover);
      observed.failovers = fs->failovers;
      observed.warm = fs->warm_standbys;
      observed.lag = fs->lag;
    }
  }

  // Status.
  auto written = WriteJobStatus(client_, kind_.resource, obj, observed, clock_, events_);
  if (!written.ok()) return written.status();
  if (written->stale) return ReconcileResult{true, {}};
  if (!workload_status.ok()) return workload_status;
  if (!catalog.ok()) return catalog;
  if (!rules_status.ok()) return rules_status;
  ReconcileResult result;
  if (!IsStatusConditionTrue(written->status.value("conditions", json::array()), kConditionReady) ||
      IsStatusConditionTrue(written->status.value("conditions", json::array()), kConditionProgressing)) {
    result.requeue_after = options_.not_ready_requeue;
  }
  return result;
}

Result<ReconcileResult> UnsupportedKindReconciler::Reconcile(const kube::ObjectKey& key) {
  auto got = client_->Get(resource_, key.ns, key.name);
  if (!got.ok()) {
    if (got.error().IsNotFound()) return ReconcileResult{};
    return got.error().ToStatus();
  }
  if (kube::IsBeingDeleted(*got)) return ReconcileResult{};
  JobObservation observed;
  observed.generation = kube::Generation(*got);
  observed.partitions = partitions_;
  observed.parallelism = 0;
  observed.standby_replicas = 0;
  observed.unsupported = resource_.kind + " is not run by this version of usp-operator yet";
  auto written = WriteJobStatus(client_, resource_, *got, observed, clock_, events_);
  if (!written.ok()) return written.status();
  return ReconcileResult{written->stale, {}};
}

}  // namespace usp::op
