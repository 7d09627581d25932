#include "operator/reconcile/job_status.h"

#include <algorithm>
#include <string>
#include <vector>

#include "operator/kube/object.h"
#include "operator/reconcile/conditions.h"

namespace usp::op {

using nlohmann::json;

namespace {

int64_t IntField(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// "0-3,7" for {0, 1, 2, 3, 7}.
std::string Ranges(const std::vector<int32_t>& ps) {
  std::string out;
  for (size_t i = 0; i < ps.size();) {
    size_t j = i;
    while (j + 1 < ps.size() && ps[j + 1] == ps[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(ps[i]);
    if (j > i) out += "-" + std::to_string(ps[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

bool TemplateCurrent(const json& deployment) {
  if (!deployment.is_object()) return false;
  const json& spec = deployment.value("spec", json::object());
  const json& status = deployment.value("status", json::object());
  const int64_t desired = spec.contains("replicas") ? IntField(spec, "replicas") : 1;
  return IntField(status, "observedGeneration") >= kube::Generation(deployment) &&
         IntField(status, "updatedReplicas") >= desired && IntField(status, "replicas") <= desired;
}

bool RolloutComplete(const json& deployment) {
  if (!TemplateCurrent(deployment)) return false;
  const json& spec = deployment.value("spec", json::object());
  const int64_t desired = spec.contains("replicas") ? IntField(spec, "replicas") : 1;
  return IntField(deployment.value("status", json::object()), "availableReplicas") >= desired;
}

json ComputeJobStatus(const json& old_status, const JobObservation& o, TimePoint now) {
  json status = old_status.is_object() ? old_status : json::object();
  json conditions = status.value("conditions", json::array());
  status["observedGeneration"] = o.generation;
  status["partitions"] = o.partitions;

  const json& dep_status =
      o.deployment.is_object() ? o.deployment.value("status", json::object()) : json::object();
  const int64_t ready = IntField(dep_status, "readyReplicas");
  const int32_t active = static_cast<int32_t>(std::min<int64_t>(ready, o.parallelism));
  const int32_t standby =
      static_cast<int32_t>(std::clamp<int64_t>(ready - o.parallelism, 0, o.standby_replicas));
  // Warmth comes from the workers' own status endpoint (the failover
  // controller); without one, a ready standby (its readiness probe passed:
  // config loaded, connections open) counts as warm.
  const int32_t warm = o.warm ? *o.warm : standby;
  status["replicas"] = {{"active", active}, {"standby", standby}, {"warm", warm}};
  if (!o.assignment.is_null()) status["assignment"] = o.assignment;
  if (!o.last_failover.is_null()) status["lastFailover"] = o.last_failover;
  if (o.failovers) status["failovers"] = *o.failovers;
  if (o.lag) status["lag"] = *o.lag;
  std::vector<int32_t> unassigned;
  if (o.assignment.is_object() && o.assignment.contains("unassigned") && o.assignment["unassigned"].is_array()) {
    for (const auto& p : o.assignment["unassigned"]) {
      if (p.is_number_integer()) unassigned.push_back(p.get<int32_t>());
    }
  }

  auto set = [&](const char* type, const char* value, const std::string& reason, const std::string& message) {
    SetStatusCondition(&conditions, {type, value, reason, message, o.generation}, now);
  };

  if (o.unsupported) {
    set(kConditionReady, "False", "Unsupported", *o.unsupported);
    set(kConditionProgressing, "False", "Unsupported", *o.unsupported);
    set(kConditionDegraded, "False", "Unsupported", *o.unsupported);
  } else if (o.invalid_spec) {
    set(kConditionReady, "False", "InvalidSpec", *o.invalid_spec);
    set(kConditionProgressing, "False", "InvalidSpec", "fix the spec to deploy it");
    set(kConditionDegraded, "True", "InvalidSpec", *o.invalid_spec);
  } else if (o.missing_signals) {
    set(kConditionReady, "False", "SignalNotFound", *o.missing_signals);
    set(kConditionProgressing, "False", "SignalNotFound", "create the UserSignals it reads to deploy it");
    set(kConditionDegraded, "True", "SignalNotFound", *o.missing_signals);
  } else if (o.workload_error) {
    set(kConditionReady, IsStatusConditionTrue(conditions, kConditionReady) ? "True" : "False",
        IsStatusConditionTrue(conditions, kConditionReady) ? "Running" : "ReconcileError",
        *o.workload_error);
    set(kConditionProgressing, "False", "ReconcileError", *o.workload_error);
    set(kConditionDegraded, "True", "ReconcileError", *o.workload_error);
  } else {
    const bool current = TemplateCurrent(o.deployment);
    const bool rolled_out = RolloutComplete(o.deployment);
    const int32_t desired = o.parallelism + o.standby_replicas;
    const std::string counts = std::to_string(active) + "/" + std::to_string(o.parallelism) +
                               " active, " + std::to_string(standby) + "/" +
                               std::to_string(o.standby_replicas) + " standby workers ready";
    if (active >= o.parallelism && current) {
      set(kConditionReady, "True", "Running", counts);
    } else if (!o.deployment.is_object()) {
      set(kConditionReady, "False", "Deploying", "creating the worker Deployment");
    } else if (!current && active >= o.parallelism) {
      set(kConditionReady, "False", "RollingOut", "rolling out a new worker configuration: " + counts);
    } else {
      set(kConditionReady, "False", "WorkersNotReady", counts);
    }
    if (rolled_out && ready >= desired) {
      set(kConditionProgressing, "False", "Deployed", "all " + std::to_string(desired) + " workers run the current spec");
    } else {
      set(kConditionProgressing, "True", rolled_out ? "ScalingUp" : "RollingOut", counts);
    }
    bool rollout_failed = false;
    for (const auto& c : dep_status.value("conditions", json::array())) {
      if (c.value("type", "") == "Progressing" && c.value("reason", "") == "ProgressDeadlineExceeded") {
        rollout_failed = true;
      }
    }
    if (rollout_failed) {
      set(kConditionDegraded, "True", "RolloutStuck", "the worker Deployment exceeded its progress deadline");
    } else if (!unassigned.empty()) {
      set(kConditionDegraded, "True", "PartitionsUnassigned",
          "partitions " + Ranges(unassigned) + " wait for a warm worker: " + o.assignment.value("reason", ""));
    } else if (active >= o.parallelism && std::min(standby, warm) < o.standby_replicas && current) {
      set(kConditionDegraded, "True", "StandbyUnavailable",
          "running without a full warm standby reserve: " + counts + ", " + std::to_string(warm) + " warm");
    } else {
      set(kConditionDegraded, "False", "AsExpected", "");
    }
  }
  status["conditions"] = conditions;
  return status;
}

}  // namespace usp::op
