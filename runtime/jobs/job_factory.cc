#include "runtime/jobs/job_factory.h"

#include <mutex>
#include <utility>

#include "runtime/jobs/segment_job_processor.h"
#include "runtime/state/changelog_reader.h"

namespace usp {

namespace {

struct Entry {
  std::string name;
  StatefulJobMatcher matches;
  StatefulJobBuilder build;
};

Clock* ClockOf(const StatefulJobOptions& options) {
  return options.clock != nullptr ? options.clock : SystemClock();
}

std::vector<std::string> SourceTopics(const std::vector<std::string>& signals,
                                      const StatefulJobOptions& options) {
  std::vector<std::string> topics;
  for (const std::string& s : signals) {
    std::string topic = SignalTopic(s, options);
    bool seen = false;
    for (const auto& t : topics) seen |= t == topic;
    if (!seen) topics.push_back(std::move(topic));
  }
  return topics;
}

Result<StatefulJobPlan> BuildSegment(const LoadedResource& r, const StatefulJobOptions& options) {
  const UserSegment& segment = *r.user_segment;
  auto processor = SegmentJobProcessor::Create(segment, ClockOf(options));
  if (!processor.ok()) return processor.status();
  StatefulJobPlan plan;
  plan.job.kind = kUserSegmentKind;
  plan.job.name = segment.metadata.name;
  plan.job.source_topics = SourceTopics(segment.TriggerSignals(), options);
  plan.job.output_topic = segment.spec.output_topic.empty() ? "usp.segment." + segment.metadata.name
                                                            : segment.spec.output_topic;
  plan.job.changelog_topic = ChangelogTopic(plan.job.kind, plan.job.name);
  plan.processor = std::move(processor).value();
  return plan;
}

Result<StatefulJobPlan> BuildSession(const LoadedResource& r, const StatefulJobOptions& options) {
  const SessionJob& job = *r.session_job;
  SessionJobProcessorOptions session = options.session;
  session.source_partitions = options.source_partitions > 0 ? options.source_partitions : 1;
  auto processor = SessionJobProcessor::Create(job, ClockOf(options), session);
  if (!processor.ok()) return processor.status();
  StatefulJobPlan plan;
  plan.job.kind = "SessionJob";
  plan.job.name = job.metadata.name;
  plan.job.source_topics = SourceTopics(job.spec.signals, options);
  plan.job.output_topic =
      job.spec.output_topic.empty() ? "usp.session." + job.metadata.name : job.spec.output_topic;
  plan.job.changelog_topic = ChangelogTopic(plan.job.kind, plan.job.name);
  SessionJobProcessor* session_processor = processor->get();
  plan.dropped_late = [session_processor] { return session_processor->stats().dropped_late; };
  plan.processor = std::move(processor).value();
  return plan;
}

Result<StatefulJobPlan> BuildLeftJoin(const LoadedResource& r, const StatefulJobOptions& options) {
  auto join = MakeLeftJoinJob(*r.user_signal, ClockOf(options));
  if (!join.ok()) return join.status();
  StatefulJobPlan plan;
  plan.job = std::move(join->job);
  plan.repartition = std::move(join->repartition);
  plan.processor = std::move(join->processor);
  return plan;
}

std::mutex& TableMutex() {
  static std::mutex mu;
  return mu;
}

// Built-ins first; RegisterStatefulJobBuilder appends.
std::vector<Entry>& Table() {
  static std::vector<Entry> table = {
      {"UserSegment", [](const LoadedResource& r) { return r.user_segment.has_value(); },
       BuildSegment},
      {"SessionJob", [](const LoadedResource& r) { return r.session_job.has_value(); },
       BuildSession},
      {"UserSignal/left_join",
       [](const LoadedResource& r) {
         return r.user_signal.has_value() && r.user_signal->spec.type == SignalType::kLeftJoin;
       },
       BuildLeftJoin},
  };
  return table;
}

const Entry* Find(const LoadedResource& r) {
  std::lock_guard<std::mutex> lock(TableMutex());
  for (const Entry& e : Table()) {
    if (e.matches(r)) return &e;
  }
  return nullptr;
}

}  // namespace

std::string SignalTopic(const std::string& signal, const StatefulJobOptions& options) {
  auto it = options.signal_topics.find(signal);
  return it != options.signal_topics.end() ? it->second : "usp.signal." + signal;
}

void RegisterStatefulJobBuilder(std::string name, StatefulJobMatcher matches,
                                StatefulJobBuilder build) {
  std::lock_guard<std::mutex> lock(TableMutex());
  Table().push_back({std::move(name), std::move(matches), std::move(build)});
}

bool IsStatefulResource(const LoadedResource& resource) {
  return resource.valid() && Find(resource) != nullptr;
}

Result<StatefulJobPlan> MakeStatefulJob(const LoadedResource& resource,
                                        const StatefulJobOptions& options) {
  if (!resource.valid()) {
    return Status::InvalidArgument(resource.source + ": invalid " + resource.kind);
  }
  const Entry* entry = Find(resource);
  if (entry == nullptr) {
    return Status::InvalidArgument(resource.source + ": kind " + resource.kind +
                                   " is not a stateful job");
  }
  return entry->build(resource, options);
}

}  // namespace usp
