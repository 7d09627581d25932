#pragma once
// The materializer: tails the output topics (signal, segment and session
// topics) and appends every record to the SignalStore, one WriteBatch per poll batch, with the
// consumed offsets in the same batch. It resumes from the offsets in the store (never from Kafka's
// committed offsets), so rows and offsets cannot disagree.
//
// Flow: Start() resolves the partitions to own (all of each topic, or the
// subset given), reads the stored offsets, records each partition's high
// watermark as the catch-up target and assigns the source. PollOnce() reads
// one batch, parses it by the topic's kind (malformed records, and records
// of a signal / segment / job that does not belong to the topic, are counted
// in usp_events_failed_total{reason} — parse, empty, unknown_signal,
// unknown_segment, unknown_job — and skipped; their offsets still advance) and writes it.
// caught_up() turns true once every owned partition has been consumed up to its target, and stays
// true.
//
// Thread safety: Start/PollOnce/Run from one thread; caught_up() from any.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/query/serve_metrics.h"
#include "runtime/query/signal_source.h"
#include "runtime/store/signal_store.h"

namespace usp {

struct MaterializerOptions {
  // output topic -> the signals allowed on it (SignalCatalog::SignalsByTopic()).
  std::map<std::string, std::set<std::string>> topics;
  // segment output topic -> the UserSegments written to it (SegmentsByTopic()).
  std::map<std::string, std::set<std::string>> segment_topics;
  // session output topic -> the SessionJobs written to it (JobsByTopic()).
  std::map<std::string, std::set<std::string>> session_topics;
  // Partitions to materialize (the same numbers on every topic); empty = all.
  std::vector<int32_t> partitions;
  int max_batch = 2000;       // messages per poll = per WriteBatch
  int poll_timeout_ms = 100;  // wait for the first message of a batch
  int metadata_timeout_ms = 5000;
  // Wall clock in ms, for the latency histograms.
  std::function<int64_t()> now_ms;

  // Every topic of every kind, sorted.
  std::vector<std::string> AllTopics() const;
};

// The partition count shared by `topics`. NotFound when one does not exist
// yet; InvalidArgument when they differ (output topics must be co-partitioned).
Result<int32_t> DiscoverPartitionCount(SignalSource* source, const std::vector<std::string>& topics,
                                       int timeout_ms);

class Materializer {
 public:
  // Does not take ownership; all must outlive the materializer.
  Materializer(SignalSource* source, SignalStore* store, MaterializerProbe* probe,
               MaterializerOptions options);

  // REQUIRES: called once, before PollOnce().
  Status Start();
  // Reads and writes one batch; returns the number of messages consumed.
  // A store write failure is returned: the caller must stop (a restart
  // resumes from the stored offsets).
  Result<int> PollOnce();
  // PollOnce() until `should_stop()` or an error.
  Status Run(const std::function<bool()>& should_stop);

  bool caught_up() const { return caught_up_.load(std::memory_order_acquire); }
  // The owned partitions and the next offset to consume on each (-1 before
  // anything was consumed or stored).
  const std::map<TopicPartition, int64_t>& next_offsets() const { return next_offsets_; }

 private:
  void UpdateCaughtUp();
  void UpdateLag();

  SignalSource* source_;
  SignalStore* store_;
  MaterializerProbe* probe_;
  MaterializerOptions options_;
  enum class Kind { kSignal, kSegment, kSession };
  struct TopicInfo {
    Kind kind = Kind::kSignal;
    std::set<std::string, std::less<>> allowed;  // names that may be written to it
  };
  std::map<std::string, TopicInfo, std::less<>> topics_;
  Status config_status_;  // a topic named for two kinds
  std::map<TopicPartition, int64_t> next_offsets_;
  std::map<TopicPartition, int64_t> targets_;  // high watermarks at Start()
  std::atomic<bool> caught_up_{false};
  std::vector<ConsumedMessage> messages_;
};

}  // namespace usp
