#pragma once
// At-least-once bookkeeping: which source offsets may be committed.
//
// A source message is "done" once its outcome is durable: its output record
// (or dead letter) was acknowledged by Kafka, or it produced nothing (filtered
// out, skipped). The committable offset of a partition is one past the
// highest offset below which every consumed message is done. A failed
// message is never done, so nothing at or past it is ever committed: the next
// owner replays from there (idempotent storage makes the replay harmless).

#include <cstddef>
#include <cstdint>
#include <deque>

namespace usp {

// Timing of one in-flight message, carried to its acknowledgement so the
// worker can observe end-to-end latencies when the output is written.
struct InFlightTimes {
  int64_t event_time_ms = -1;   // the event's own time, -1 if unknown
  int64_t append_time_ms = -1;  // Kafka message timestamp, -1 if none
  int64_t consumed_ms = -1;     // when the worker polled it
};

// One source partition. Offsets must be begun in increasing order (Kafka
// delivers a partition in order); acks may arrive in any order.
// Thread-compatible.
class PartitionOffsetTracker {
 public:
  // `start_offset`: where consumption starts (the committed offset). Until a
  // message is begun and done, CommittableOffset() returns it.
  explicit PartitionOffsetTracker(int64_t start_offset = -1) : committable_(start_offset) {}

  // Records a consumed message as in flight. REQUIRES: offset greater than
  // every offset begun before. Returns false (and ignores it) otherwise,
  // e.g. for a message redelivered after a seek.
  bool Begin(int64_t offset, const InFlightTimes& times = {});
  // Marks an in-flight message done. Returns false when `offset` is not in
  // flight (unknown, already done, or failed). Fills *times when given.
  bool Ack(int64_t offset, InFlightTimes* times = nullptr);
  // Marks an in-flight message failed: the committable offset never passes it.
  bool Fail(int64_t offset);

  // One past the highest offset below which every begun message is done;
  // the start offset while none is; -1 when neither is known.
  int64_t CommittableOffset() const { return committable_; }
  // The committable offset advanced past the last MarkCommitted().
  bool NeedsCommit() const { return committable_ >= 0 && committable_ > committed_; }
  void MarkCommitted(int64_t offset) {
    if (offset > committed_) committed_ = offset;
  }
  int64_t committed() const { return committed_; }

  // Messages begun and not yet done (failed ones included).
  size_t in_flight() const { return entries_.size(); }
  bool has_failure() const { return failed_; }
  // One past the last begun offset (the consumer's position), -1 if none.
  int64_t next_offset() const { return next_offset_; }

 private:
  enum class State : uint8_t { kInFlight, kDone, kFailed };
  struct Entry {
    int64_t offset;
    State state;
    InFlightTimes times;
  };
  Entry* Find(int64_t offset);
  void Advance();

  std::deque<Entry> entries_;  // in offset order
  int64_t committable_;
  int64_t committed_ = -1;
  int64_t next_offset_ = -1;
  bool failed_ = false;
};

}  // namespace usp
