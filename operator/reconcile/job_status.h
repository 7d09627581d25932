#pragma once
// A job's status from what was observed: pure, so the rules (when is a job
// Ready, Progressing, Degraded; how pods split into active and standby) are
// table-tested without a cluster.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/controller/clock.h"

namespace usp::op {

struct JobObservation {
  int64_t generation = 0;       // metadata.generation of the resource
  int32_t parallelism = 1;      // actives wanted
  int32_t standby_replicas = 1; // standbys wanted
  int32_t partitions = 0;       // partitions of the job's topics
  // Set when validation failed: "spec.x: required; spec.y: ..." (then the
  // workloads were left alone).
  std::optional<std::string> invalid_spec;
  // Set when the spec names UserSignals that do not exist in its namespace:
  // "spec.enter.signals[0]: no UserSignal \"x\" in namespace default" (then
  // the workloads were left alone).
  std::optional<std::string> missing_signals;
  // Set when the kind is not run by this operator version.
  std::optional<std::string> unsupported;
  // Set when reconciling the workloads failed (message).
  std::optional<std::string> workload_error;
  // The worker Deployment as the server holds it; null when absent.
  nlohmann::json deployment;

  // From the job's failover controller (operator/failover); null / empty
  // when there is none yet, and then the status keeps what it showed.
  nlohmann::json assignment;            // status.assignment (epoch, workers, unassigned, reason)
  nlohmann::json last_failover;         // status.lastFailover
  std::optional<int64_t> failovers;     // status.failovers
  std::optional<int32_t> warm;          // replicas.warm: standbys that report warm
  std::optional<int64_t> lag;           // status.lag: summed over the actives
};

// Ready / Progressing / Degraded, replicas {active, standby, warm}, partitions
// and observedGeneration; assignment, lastFailover, failovers and lag when the
// failover controller supplied them (Degraded=True PartitionsUnassigned while
// partitions wait for a warm worker). `old_status` supplies the conditions' previous
// lastTransitionTime (unchanged unless a status flips).
nlohmann::json ComputeJobStatus(const nlohmann::json& old_status, const JobObservation& observed, TimePoint now);

// Whether every pod of the Deployment runs its latest template (its
// controller has seen the latest generation, no old pods remain).
bool TemplateCurrent(const nlohmann::json& deployment);
// TemplateCurrent and every replica available.
bool RolloutComplete(const nlohmann::json& deployment);

}  // namespace usp::op
