#include "operator/reconcile/job_kind.h"

#include <set>

#include "core/segment/user_segment.h"
#include "core/session/session_job.h"
#include "operator/reconcile/workload.h"

namespace usp::op {

using nlohmann::json;

namespace {

void AddSignals(const std::vector<std::string>& names, const std::string& field, JobSpec* job) {
  for (size_t i = 0; i < names.size(); ++i) {
    bool seen = false;
    for (const auto& s : job->signals) seen = seen || s.name == names[i];
    if (!seen) job->signals.push_back({names[i], field + "[" + std::to_string(i) + "]"});
  }
}

// The JobSpec of a parsed resource (nullopt stays nullopt). The generation
// is not part of the config: only a real spec change should roll the workers.
template <typename Resource>
std::optional<JobSpec> Normalize(std::optional<Resource> resource, bool stateful) {
  if (!resource) return std::nullopt;
  resource->metadata.generation = 0;
  JobSpec job;
  job.config = ToJson(*resource);
  job.parallelism = resource->spec.parallelism;
  job.standby_replicas = resource->spec.standby_replicas;
  job.failover = resource->spec.failover;
  job.stateful = stateful;
  return job;
}

std::optional<JobSpec> ParseSignalJob(const json& doc, FieldErrors* errors) {
  auto signal = ParseUserSignal(doc, errors);
  return Normalize(signal, signal && signal->spec.type == SignalType::kLeftJoin);
}

std::optional<JobSpec> ParseSegmentJob(const json& doc, FieldErrors* errors) {
  auto segment = ParseUserSegment(doc, errors);
  auto job = Normalize(segment, true);
  if (job) {
    AddSignals(segment->spec.enter.signals, "spec.enter.signals", &*job);
    if (segment->spec.exit) AddSignals(segment->spec.exit->signals, "spec.exit.signals", &*job);
  }
  return job;
}

std::optional<JobSpec> ParseSessionJobSpec(const json& doc, FieldErrors* errors) {
  auto session = ParseSessionJob(doc, errors);
  auto job = Normalize(session, true);
  if (job) AddSignals(session->spec.signals, "spec.signals", &*job);
  return job;
}

void StringsAt(const json& doc, std::initializer_list<const char*> path, std::vector<std::string>* out) {
  const json* node = &doc;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return;
    node = &(*node)[key];
  }
  if (!node->is_array()) return;
  for (const auto& item : *node) {
    if (item.is_string()) out->push_back(item.get<std::string>());
  }
}

}  // namespace

const JobKind& UserSignalKind() {
  static const JobKind kind{kube::UserSignals(), &ParseSignalJob, true};
  return kind;
}

const JobKind& UserSegmentKind() {
  static const JobKind kind{kube::UserSegments(), &ParseSegmentJob, true};
  return kind;
}

const JobKind& SessionJobKind() {
  static const JobKind kind{kube::SessionJobs(), &ParseSessionJobSpec, true};
  return kind;
}

const JobKind* FindJobKind(const std::string& kind) {
  for (const JobKind* k : {&UserSignalKind(), &UserSegmentKind(), &SessionJobKind()}) {
    if (k->resource.kind == kind) return k;
  }
  return nullptr;
}

std::string SignalOutputTopic(const json& user_signal) {
  const json& spec = user_signal.contains("spec") ? user_signal["spec"] : json();
  if (spec.is_object() && spec.contains("outputTopic") && spec["outputTopic"].is_string() &&
      !spec["outputTopic"].get<std::string>().empty()) {
    return spec["outputTopic"].get<std::string>();
  }
  const json& meta = user_signal.contains("metadata") ? user_signal["metadata"] : json();
  return "usp.signal." + (meta.is_object() ? meta.value("name", "") : std::string());
}

std::vector<std::string> ReferencedSignals(const json& doc) {
  std::vector<std::string> out;
  StringsAt(doc, {"spec", "enter", "signals"}, &out);
  StringsAt(doc, {"spec", "exit", "signals"}, &out);
  StringsAt(doc, {"spec", "signals"}, &out);
  return out;
}

std::vector<std::string> JobWorkerArgs(const JobSpec& job,
                                       const std::vector<std::pair<std::string, std::string>>& topics) {
  std::vector<std::string> args;
  if (job.stateful) args.push_back(std::string("--state-dir=") + kStateDir);
  std::set<std::string> done;
  for (const auto& [name, topic] : topics) {
    if (topic == "usp.signal." + name || !done.insert(name).second) continue;
    args.push_back("--signal-topic=" + name + "=" + topic);
  }
  return args;
}

}  // namespace usp::op
