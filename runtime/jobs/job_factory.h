#pragma once
// From a loaded resource to what the stateful worker runs: the StatefulJob
// description (kind, name, source topics, output topic, changelog topic) and
// the KeyedProcessor. One table of builders, keyed by what they accept, so
// more stateful kinds plug in without touching the worker wiring:
//
//   UserSegment              -> SegmentJobProcessor (segment_job_processor.h)
//   SessionJob               -> SessionJobProcessor (session_job_processor.h)
//   UserSignal type=left_join -> LeftJoinProcessor (runtime/join), with
//                               re-keying steps when the join key is not
//                               the user id
//
// Source topics of segments and session jobs are the output topics of the
// signals their spec names: `usp.signal.<name>` unless `signal_topics`
// overrides a name (a UserSignal with a custom spec.outputTopic; the
// controller passes --signal-topic NAME=TOPIC).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/resource_loader.h"
#include "core/status.h"
#include "runtime/join/left_join_processor.h"
#include "runtime/jobs/session_job_processor.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

struct StatefulJobOptions {
  // UserSignal name -> its output topic, where it differs from usp.signal.<name>.
  std::map<std::string, std::string> signal_topics;
  Clock* clock = nullptr;  // null: SystemClock()
  // Partitions of the source topics (all equal): session watermarks are per
  // partition. 0: one watermark for every partition.
  int32_t source_partitions = 0;
  SessionJobProcessorOptions session;  // source_partitions is taken from above
};

struct StatefulJobPlan {
  StatefulJob job;
  std::unique_ptr<KeyedProcessor> processor;
  // Events not applied because they came later than allowedLateness (a
  // running total; call on the loop thread). Null for kinds without
  // lateness. The worker exports it as usp_events_failed_total{reason="late"}.
  std::function<int64_t()> dropped_late;
  // left_join on a key other than the user id: the sources to re-key into
  // the job's repartition topics first (runtime/join/repartitioner.h).
  std::vector<RepartitionStep> repartition;
};

// The topic a UserSignal's records are read from.
std::string SignalTopic(const std::string& signal, const StatefulJobOptions& options);

using StatefulJobBuilder =
    std::function<Result<StatefulJobPlan>(const LoadedResource&, const StatefulJobOptions&)>;
using StatefulJobMatcher = std::function<bool(const LoadedResource&)>;

// Adds a builder for resources `matches` accepts (checked after the built-in
// ones). Thread-safe; call at start-up.
void RegisterStatefulJobBuilder(std::string name, StatefulJobMatcher matches,
                                StatefulJobBuilder build);

// Whether some builder runs `resource` (a valid UserSegment, SessionJob, ...).
bool IsStatefulResource(const LoadedResource& resource);

// The plan for `resource`; InvalidArgument for an invalid resource or a kind
// no builder runs.
Result<StatefulJobPlan> MakeStatefulJob(const LoadedResource& resource,
                                        const StatefulJobOptions& options);

}  // namespace usp
