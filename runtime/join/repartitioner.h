#pragma once
// Re-keying a source topic by join key, for left_join UserSignals whose join
// key is not the user id (the stateful worker needs every record of a key in
// one partition): consume the assigned partitions of `source_topic`, write
// each record to `target_topic` keyed by its join key, partition =
// murmur2(join key) % target partitions (core/murmur2.h, the Java client's
// partitioner), value and timestamp unchanged. Offsets are committed only
// after the written records are acknowledged (at-least-once: a restart may
// write a record twice; the join treats the copy as another event with the
// same content, and with eventIdField set its row identity is the same).
//
// Records without a usable join key are forwarded too, unkeyed, to partition
// (source partition % target partitions): the join's onError then handles
// them (dead letters name the repartition topic's coordinates).
//
// Thread-compatible: Start/RunOnce/Reassign/Finish on one thread.

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/join/left_join_processor.h"
#include "runtime/worker/offset_tracker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

struct RepartitionerOptions {
  std::vector<int32_t> partitions;  // source partitions to re-key
  int max_batch = 1000;
  int poll_timeout_ms = 100;
  int commit_interval_ms = 200;
  int flush_timeout_ms = 30000;
};

class Repartitioner {
 public:
  // The pointers must outlive the repartitioner; `source` and `sink` are its
  // own (the sink's delivery callback is taken).
  Repartitioner(RepartitionStep step, SourceReader* source, RecordSink* sink, Clock* clock,
                RepartitionerOptions options);
  Repartitioner(const Repartitioner&) = delete;
  Repartitioner& operator=(const Repartitioner&) = delete;

  // Partition counts and the initial assignment (from committed offsets).
  Status Start();
  Status RunOnce();
  // Drains and commits, then consumes `partitions` instead.
  Status Reassign(std::vector<int32_t> partitions);
  // Drains and commits.
  Status Finish();

  int64_t forwarded() const { return forwarded_; }  // records acknowledged by the target
  int64_t keyless() const { return keyless_; }      // forwarded without a join key

 private:
  struct Slot {
    int32_t partition;
    PartitionOffsetTracker tracker;
  };
  Status Assign(std::vector<int32_t> partitions);
  Status CommitDue(bool sync);
  bool JoinKey(std::string_view payload, std::string* key);

  RepartitionStep step_;
  SourceReader* source_;
  RecordSink* sink_;
  Clock* clock_;
  RepartitionerOptions options_;
  int32_t target_partitions_ = 0;
  std::vector<Slot> slots_;
  std::map<uint64_t, std::pair<size_t, int64_t>> tickets_;  // opaque -> (slot, offset)
  uint64_t next_ticket_ = 1;
  int64_t last_commit_ms_ = 0;
  Status fatal_;
  std::vector<ConsumedMessage> batch_;
  simdjson::dom::parser parser_;
  std::string key_;
  int64_t forwarded_ = 0;
  int64_t keyless_ = 0;
};

}  // namespace usp
