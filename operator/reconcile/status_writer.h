#pragma once
// Writes a job's status through the status subresource: computes the new
// status from the observation, writes only when it differs, and on 409
// Conflict re-reads the object and recomputes against the fresh state
// (never a blind overwrite). Records Events for Ready / InvalidSpec
// transitions after a successful write.

#include "core/status.h"
#include "operator/controller/clock.h"
#include "operator/kube/kube_client.h"
#include "operator/reconcile/event_recorder.h"
#include "operator/reconcile/job_status.h"

namespace usp::op {

struct StatusWriteResult {
  bool written = false;     // false: the status was already current
  bool stale = false;       // the object's generation moved on: reconcile again
  nlohmann::json status;    // the status now stored (when not stale)
};

Result<StatusWriteResult> WriteJobStatus(kube::KubeClient* client, const kube::ResourceDescriptor& resource,
                                         nlohmann::json object, const JobObservation& observed,
                                         const Clock* clock, EventRecorder* events);

}  // namespace usp::op
