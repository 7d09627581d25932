#pragma once
// What differs between the kinds the operator runs (UserSignal, UserSegment,
// SessionJob): how a resource is validated and normalized into the worker's
// job.json, whether its workers keep state, and which UserSignals it reads.
// Everything else (workloads, failover, status) is shared by JobReconciler.
// Pure: table-tested without a cluster.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/field_error.h"
#include "core/user_signal.h"
#include "operator/kube/resource.h"

namespace usp::op {

// A UserSignal a job consumes, with the field that names it
// ("spec.enter.signals[0]", "spec.signals[1]").
struct SignalRef {
  std::string name;
  std::string field;
  bool operator==(const SignalRef&) const = default;
};

// A valid resource, as the workers and the failover controller need it.
struct JobSpec {
  nlohmann::json config;  // normalized document (generation stripped): the ConfigMap's job.json
  int32_t parallelism = 1;
  int32_t standby_replicas = 1;
  FailoverSpec failover;
  // RocksDB state backed by a changelog (left_join, segments, sessions): the
  // workers get --state-dir on the pod's `state` emptyDir.
  bool stateful = false;
  // UserSignals whose output topics are the job's sources (segments,
  // sessions); in spec order, a name once (its first field).
  std::vector<SignalRef> signals;
};

struct JobKind {
  kube::ResourceDescriptor resource;  // resource.kind: "UserSignal", ...
  // Validates a whole document; nullopt with field errors when invalid.
  std::optional<JobSpec> (*parse)(const nlohmann::json& doc, FieldErrors* errors);
  // Whether the query catalog lists this kind (all three: the query service
  // materializes every kind's output topic).
  bool in_catalog = false;
};

const JobKind& UserSignalKind();
const JobKind& UserSegmentKind();
const JobKind& SessionJobKind();
// The three above; nullptr for another kind.
const JobKind* FindJobKind(const std::string& kind);

// The output topic of a UserSignal object as the server holds it (valid or
// not): spec.outputTopic, else "usp.signal.<name>".
std::string SignalOutputTopic(const nlohmann::json& user_signal);

// The UserSignal names a raw UserSegment / SessionJob document refers to
// (spec.enter.signals, spec.exit.signals, spec.signals); empty for others.
// Used to bring dependents back to the queue when a UserSignal changes.
std::vector<std::string> ReferencedSignals(const nlohmann::json& doc);

// The worker flags specific to a job: --state-dir for stateful kinds, and
// --signal-topic=NAME=TOPIC for each referenced signal whose output topic
// (in `topics`, by name) is not the default usp.signal.NAME.
std::vector<std::string> JobWorkerArgs(const JobSpec& job,
                                       const std::vector<std::pair<std::string, std::string>>& topics);

}  // namespace usp::op
