#pragma once
// The simple-signal worker loop: source events -> SignalTransform -> signal
// records on the output topic, bad events per `onError`, offsets committed
// only once every output below them is acknowledged (at-least-once).
//
// Flow of one RunOnce(): serve delivery reports (acks advance the
// PartitionOffsetTracker of their source partition) -> poll a batch ->
// transform each event -> send its record (key = user id, partition =
// murmur2(user id) % output partitions, timestamp = event time) or its dead
// letter -> every `commit_interval_ms`, commit the committable offsets
// asynchronously. Finish() flushes the producer and commits synchronously.
//
// All I/O goes through SourceReader / RecordSink / Clock, so the loop is
// tested with fakes. Thread-compatible: Start/RunOnce/Run/Finish/
// ApplyAssignment on one thread (the loop's); ready(), last_heartbeat_ms(),
// Snapshot() and SubmitAssignment() may be called from any thread.
//
// Control protocol (issue 4): the worker owns the partitions of its latest
// assignment epoch. A new assignment is submitted from any thread and applied
// by the loop at the top of its next RunOnce(): removed partitions are
// drained (producer flushed, everything acknowledged committed), added ones
// start from the group's committed offsets.

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/signal_record.h"
#include "core/signal_transform.h"
#include "core/status.h"
#include "core/user_signal.h"
#include "runtime/worker/assignable_worker.h"
#include "runtime/worker/dead_letter.h"
#include "runtime/worker/offset_tracker.h"
#include "runtime/worker/worker_io.h"
#include "runtime/worker/worker_metrics.h"

namespace usp {

struct SignalWorkerOptions {
  // Source partitions to own, the same numbers on every source topic.
  // Empty: every partition of every source topic. Numbers a topic does not
  // have are skipped on that topic.
  std::vector<int32_t> partitions;
  bool all_partitions = true;  // false with empty `partitions`: own nothing (standby)
  int max_batch = 1000;        // messages per poll
  int poll_timeout_ms = 100;   // wait for the first message of a batch
  int commit_interval_ms = 200;
  int flush_timeout_ms = 30000;  // Finish(): wait for outstanding acks
  // The largest record (key + value) the worker sends: librdkafka's default
  // message.max.bytes; a larger record would be refused by the producer. A
  // signal record over it fails its event with reason "output_too_large"
  // (onError applies); a dead letter over it carries only the first
  // dead_letter_payload_prefix bytes of the payload, with
  // "payload_truncated": true and "payload_bytes": the full size.
  // The check and the dead-letter format are shared with the stateful
  // worker (dead_letter.h).
  size_t max_record_bytes = kDefaultMaxRecordBytes;
  size_t dead_letter_payload_prefix = kDefaultDeadLetterPayloadPrefix;
};

class SignalWorker : public AssignableWorker {
 public:
  // `transform` built from `signal`. The other pointers must outlive the worker.
  SignalWorker(UserSignal signal, std::unique_ptr<SignalTransform> transform, SourceReader* source,
               RecordSink* sink, WorkerMetrics* metrics, Clock* clock, SignalWorkerOptions options);
  SignalWorker(const SignalWorker&) = delete;
  SignalWorker& operator=(const SignalWorker&) = delete;

  // Something Start() waits for: until `done()` is true, Start() fails with
  // Unavailable naming `what`, so the worker is neither ready nor warm. The
  // lookup tables' initial load (spec.lookups, runtime/lookup) is one: a
  // standby is warm only with its tables loaded. Call before Start().
  void AddStartGate(std::string what, std::function<bool()> done);

  // Reads partition counts (source and output topics), the committed offsets,
  // and assigns the partitions. ready() is true after it succeeds. Errors:
  // Unavailable (metadata/coordinator not reachable, a start gate not done:
  // retry), NotFound.
  Status Start();

  // One iteration of the loop (see above). A non-OK status is fatal: an
  // event failed under `onError: fail`, an output could not be delivered, or
  // the source failed. Call Finish() next either way.
  Status RunOnce();

  // RunOnce() until `stop()` returns true or an error, then Finish().
  // Returns the first error.
  Status Run(const std::function<bool()>& stop);

  // Flushes the sink (serving the remaining acks) and synchronously commits
  // every partition's committable offset. Never commits at or past a failed
  // offset.
  Status Finish();

  bool ready() const override { return ready_.load(std::memory_order_acquire); }
  // Clock time at the start of the latest RunOnce(), 0 before the first.
  int64_t last_heartbeat_ms() const override {
    return heartbeat_ms_.load(std::memory_order_relaxed);
  }

  // Thread-safe: queues an assignment for the loop; the future is set once
  // the loop applied or rejected it. Never set if the loop stops first (the
  // future then reports a broken promise when the worker is destroyed).
  std::future<AssignmentOutcome> SubmitAssignment(int64_t epoch,
                                                  std::vector<int32_t> partitions) override;

  // Loop thread: checks `epoch` against the current one and applies it (see
  // the class comment). `partitions` need not be sorted.
  AssignmentOutcome ApplyAssignment(int64_t epoch, std::vector<int32_t> partitions);

  int64_t epoch() const { return epoch_; }  // loop thread

  // Thread-safe.
  WorkerSnapshot Snapshot() const override;

  // Per owned partition, the next offset a restart would consume from.
  std::vector<TopicPartitionOffset> CommittableOffsets() const;
  const std::vector<TopicPartition>& assignment() const { return assignment_; }

 private:
  struct Slot {
    std::string topic;
    int32_t partition;
    PartitionOffsetTracker tracker;
    int64_t start_committed = -1;  // the group's committed offset when assigned
  };
  struct TopicSlots {
    std::string topic;
    std::vector<int> slot_by_partition;  // -1: not owned
  };

  struct PendingAssignment {
    int64_t epoch;
    std::vector<int32_t> partitions;
    std::promise<AssignmentOutcome> done;
  };

  // Builds slots for `partitions` (numbers a topic lacks are skipped on that
  // topic) from the committed offsets and assigns them.
  Status AssignPartitions(const std::vector<int32_t>& partitions);
  // Flushes the sink and synchronously commits everything acknowledged.
  Status DrainAndCommit();
  void ServePendingAssignments();
  void PublishSnapshot();
  int FindSlot(std::string_view topic, int32_t partition) const;
  Status Process(int slot, const ConsumedMessage& message, int64_t now_ms);
  Status SendWithRetry(std::string_view topic, int32_t partition, std::string_view key,
                       std::string_view value, int64_t timestamp_ms, uint64_t opaque);
  void BuildDeadLetter(const ConsumedMessage& message, int64_t now_ms);
  void OnDelivery(const DeliveryReport& report);
  Status CommitDue(int64_t now_ms);
  void UpdateLag();

  UserSignal signal_;
  std::unique_ptr<SignalTransform> transform_;
  std::vector<std::pair<std::string, std::function<bool()>>> start_gates_;
  SourceReader* source_;
  RecordSink* sink_;
  WorkerMetrics* metrics_;
  Clock* clock_;
  SignalWorkerOptions options_;

  int32_t output_partitions_ = 0;
  std::vector<std::pair<std::string, int32_t>> source_counts_;  // topic -> partitions
  int32_t max_source_partitions_ = 0;
  int64_t epoch_ = 0;
  std::vector<int32_t> partitions_;  // owned numbers, sorted
  int64_t lag_ = 0;
  int64_t assigned_at_ms_ = 0;
  int64_t first_output_ms_ = 0;
  std::vector<Slot> slots_;
  std::vector<TopicSlots> topics_;
  std::vector<TopicPartition> assignment_;
  int64_t last_commit_ms_ = 0;
  bool recommit_all_ = false;  // an async commit failed: commit every partition next
  Status fatal_;  // first delivery failure, reported by the next RunOnce()

  // Reused across events to keep the hot path free of allocations.
  std::vector<ConsumedMessage> batch_;
  SignalRecord record_;
  TransformError error_;
  std::string buffer_;
  std::string key_;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<PendingAssignment>> pending_;  // GUARDED_BY(mutex_)
  WorkerSnapshot snapshot_;                                  // GUARDED_BY(mutex_)

  std::atomic<bool> ready_{false};
  std::atomic<int64_t> heartbeat_ms_{0};
};

}  // namespace usp
