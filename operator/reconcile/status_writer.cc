#include "operator/reconcile/status_writer.h"

#include <spdlog/spdlog.h>

#include "operator/kube/object.h"
#include "operator/reconcile/conditions.h"

namespace usp::op {

using nlohmann::json;

namespace {

void RecordTransitions(EventRecorder* events, const json& object, const json& old_status, const json& new_status) {
  if (events == nullptr) return;
  auto old_ready = FindStatusCondition(old_status.value("conditions", json::array()), kConditionReady);
  auto new_ready = FindStatusCondition(new_status.value("conditions", json::array()), kConditionReady);
  if (!new_ready) return;
  const std::string new_value = new_ready->value("status", "");
  const std::string new_reason = new_ready->value("reason", "");
  const std::string old_value = old_ready ? old_ready->value("status", "") : "";
  const std::string old_reason = old_ready ? old_ready->value("reason", "") : "";
  const std::string message = new_ready->value("message", "");
  if (new_reason == "InvalidSpec" || new_reason == "SignalNotFound") {
    if (old_reason != new_reason || (old_ready && old_ready->value("message", "") != message)) {
      events->Record(object, "Warning", new_reason, message);
    }
  } else if (new_reason == "Unsupported") {
    if (old_reason != "Unsupported") events->Record(object, "Warning", "Unsupported", message);
  } else if (new_value == "True" && old_value != "True") {
    events->Record(object, "Normal", "Ready", message);
  } else if (new_value != "True" && old_value == "True") {
    events->Record(object, "Warning", "NotReady", new_reason + ": " + message);
  }
}

}  // namespace

Result<StatusWriteResult> WriteJobStatus(kube::KubeClient* client, const kube::ResourceDescriptor& resource,
                                         json object, const JobObservation& observed, const Clock* clock,
                                         EventRecorder* events) {
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const json old_status = object.value("status", json::object());
    json new_status = ComputeJobStatus(old_status, observed, clock->Now());
    if (new_status == old_status) return StatusWriteResult{false, false, new_status};
    json copy = object;
    copy["status"] = new_status;
    auto updated = client->UpdateStatus(resource, kube::Namespace(object), copy);
    if (updated.ok()) {
      RecordTransitions(events, *updated, old_status, new_status);
      return StatusWriteResult{true, false, new_status};
    }
    if (updated.error().IsNotFound()) return StatusWriteResult{false, false, new_status};
    if (!updated.error().IsConflict()) return updated.error().ToStatus();
    spdlog::debug("status of {}/{}: conflict, re-reading", kube::Namespace(object), kube::Name(object));
    auto fresh = client->Get(resource, kube::Namespace(object), kube::Name(object));
    if (!fresh.ok()) {
      if (fresh.error().IsNotFound()) return StatusWriteResult{false, false, new_status};
      return fresh.error().ToStatus();
    }
    object = std::move(fresh).value();
    // A new generation means our observation is of an older spec: the
    // caller reconciles again instead of reporting stale facts.
    if (kube::Generation(object) != observed.generation) return StatusWriteResult{false, true, json()};
  }
  return Status::Unavailable("status of " + kube::Namespace(object) + "/" + kube::Name(object) +
                             ": conflicts persisted");
}

}  // namespace usp::op
