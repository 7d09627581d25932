#pragma once
// BatchPipeline: a resource's online code run over historical records in one
// process, with a simulated clock. It is the batch half of the Lambda
// architecture; `usp-runtime backfill` (backfill_main.h) drives it.
//
// The chain. `job` names the resource whose rows are wanted. Its
// dependencies run in memory before it, chained by topic exactly as
// `uspctl local` chains the jobs over Kafka: a UserSegment / SessionJob reads
// the output topics of the UserSignals it names, so those signals run too
// (their input is the raw topics). Each stage is the online code, not a
// copy:
//   simple UserSignal -> core/signal_transform.h SignalTransform
//   UserSegment, SessionJob, left_join UserSignal -> the KeyedProcessor of
//     runtime/jobs/job_factory.h MakeStatefulJob (re-keying steps of a
//     left_join forward the record to the repartition topic unchanged)
// A record is handed to every stage that reads its topic, so input may hold
// raw topics, or already the signal topics a segment or session job reads.
//
// State and timers (what the StatefulWorker keeps in RocksDB) are kept in
// memory: a map key -> state and an ordered set of (time, key) timers per
// stateful stage.
//
// The clock. Processing time is simulated: it is the time of the records
// (TimeOf), monotonic (the max seen). Before a record is processed the clock
// moves to its time and every timer due at or before it fires first, one at
// a time in time order with the clock AT the timer's time - what a live
// worker, whose wall clock passes each timer before the record arrives,
// does. Finish(end) then fires the timers due up to `end`. So a segment's
// expiry fires exactly when the batch clock passes the expiration, and
// session windows close on the event-time watermark (plus the idle fallback,
// which follows the simulated clock). Versions the processors assign are
// simulated processing times; callers replace them (BatchRows::SetVersion).
//
// Order: callers feed records in time order (SortByTime: stable, so ties keep
// input order, i.e. partition order for a kcat dump of one partition).
//
// Thread-compatible.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/resource_loader.h"
#include "core/status.h"
#include "runtime/batch/batch_input.h"
#include "runtime/batch/batch_rows.h"
#include "runtime/jobs/session_job_processor.h"

namespace usp {

struct BatchPipelineOptions {
  // Partition count of the topics (all equal, as the controller creates
  // them): signal records fed to the next stage carry partition
  // murmur2(user) % partitions, and session watermarks are per partition.
  int32_t partitions = 8;
  // SessionJob timing; source_partitions is taken from `partitions`.
  SessionJobProcessorOptions session;
};

struct BatchStats {
  int64_t records = 0;       // input records fed
  int64_t ignored = 0;       // input records of topics no stage reads
  int64_t invalid = 0;       // events a transform failed or a processor could not key
  int64_t dead_letters = 0;  // of those, the ones online would dead-letter (not written here)
  int64_t filtered = 0;      // events a filter dropped
  int64_t timers_fired = 0;
  int64_t outputs = 0;  // records the job emitted (several may share an identity)
};

class BatchPipeline {
 public:
  // InvalidArgument naming the problem: `job` not among `resources`, an
  // invalid resource in the chain, a named signal missing.
  static Result<std::unique_ptr<BatchPipeline>> Create(const std::vector<LoadedResource>& resources,
                                                       const std::string& job,
                                                       const BatchPipelineOptions& options);
  ~BatchPipeline();
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  const std::string& job_kind() const { return job_kind_; }  // UserSignal, UserSegment, SessionJob
  const std::string& job_name() const { return job_name_; }
  RowKind row_kind() const { return row_kind_; }
  const std::string& output_topic() const { return output_topic_; }
  // Topics the chain reads that no stage of it writes: where input comes from.
  const std::vector<std::string>& source_topics() const { return source_topics_; }
  // Every topic some stage reads (sources and intermediate signal topics).
  bool Reads(const std::string& topic) const;
  // SessionJob: allowedLateness; 0 otherwise.
  int64_t allowed_lateness_ms() const { return allowed_lateness_ms_; }

  // The time of `record` for the clock and ordering: its Kafka timestamp
  // when it has one, else the event time read with the eventTimeField of the
  // first signal of the chain reading its topic (a signal record's
  // event_time on a signal topic). nullopt when neither can be read.
  std::optional<int64_t> TimeOf(const BatchInputRecord& record);

  // Moves the clock to max(clock, time) (firing due timers on the way) and
  // runs `record` through the chain. Errors are fatal (a corrupt state, a
  // processor failing under onError: fail is counted, not fatal).
  Status Process(const BatchInputRecord& record, int64_t time);
  // Fires every timer due at or before `end_ms`, in time order.
  Status Finish(int64_t end_ms);

  int64_t clock_ms() const;
  const BatchRows& rows() const { return rows_; }
  const BatchStats& stats() const { return stats_; }

 private:
  struct Stage;
  struct Route {
    size_t stage;
    std::string rename;  // non-empty: a re-keying step, forward under this topic
  };
  class SimClock;

  BatchPipeline();
  Status AddChain(const std::vector<LoadedResource>& resources, const LoadedResource& job,
                  std::set<std::string>* visiting);
  Status Emit(const std::string& topic, int32_t partition, int64_t offset, int64_t timestamp,
              const std::string& payload, int depth);
  Status Feed(Stage& stage, const std::string& topic, int32_t partition, int64_t offset,
              int64_t timestamp, const std::string& payload, int depth);
  Status AdvanceTo(int64_t time);
  Status FireTimer(Stage& stage, int64_t at, const std::string& key);
  Status ApplyEffects(Stage& stage, const std::string& key, ProcessorEffects* effects, int depth);

  BatchPipelineOptions options_;
  std::unique_ptr<SimClock> clock_;
  std::vector<std::unique_ptr<Stage>> stages_;
  std::map<std::string, std::vector<Route>> routes_;  // topic -> stages reading it
  std::map<std::string, int64_t> next_offset_;        // per produced topic
  std::string job_kind_;
  std::string job_name_;
  RowKind row_kind_ = RowKind::kSignal;
  std::string output_topic_;
  std::vector<std::string> source_topics_;
  int64_t allowed_lateness_ms_ = 0;
  BatchRows rows_;
  BatchStats stats_;
};

// A record with the time the pipeline runs it at.
struct TimedRecord {
  int64_t time = 0;
  BatchInputRecord record;
};

// Stable sort by time.
void SortByTime(std::vector<TimedRecord>* records);

}  // namespace usp
