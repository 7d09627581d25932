#pragma once
// The worker's I/O edges as small interfaces: where source events come from
// (SourceReader), where records go (RecordSink) and what time it is (Clock).
// Production implementations wrap the Kafka client (kafka_io.h); tests use
// fakes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {

// Source topics, consumed with manual assignment.
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  virtual Result<int32_t> PartitionCount(const std::string& topic) = 0;
  // Offsets as in KafkaConsumer::Assign (absolute or kOffsetCommitted).
  virtual Status Assign(const std::vector<TopicPartitionOffset>& partitions) = 0;
  // The group's committed offsets (kOffsetInvalid where none).
  virtual Result<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions) = 0;
  // Views valid until the next Poll().
  virtual Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) = 0;
  // `offsets`: the next offset to consume per partition.
  virtual Status Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) = 0;
  // The first asynchronous commit failure reported since the last call
  // (reports arrive during Poll()), then Ok until the next failure. A
  // reader whose commits are all synchronous keeps this default.
  virtual Status TakeCommitError() { return Status::Ok(); }
  // Messages behind `next_offset`, -1 when unknown.
  virtual int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) = 0;
  // The offset the broker last acknowledged as committed for a partition
  // since the last Assign() (a commit's report arrives during Poll(), or
  // with a synchronous Commit()); kOffsetInvalid when none yet;
  // kCommitNotTracked when this reader does not know (workers then show the
  // offsets they sent).
  static constexpr int64_t kCommitNotTracked = -2000;
  virtual int64_t AcknowledgedCommit(const std::string& topic, int32_t partition) {
    return kCommitNotTracked;
  }
};

// What a worker shows as a partition's committed offset (/status): what the
// broker acknowledged, never less than where the partition started; what
// the worker sent when the reader does not track acknowledgements. A commit
// sent but not acknowledged may be lost with the process (kill -9), and the
// next owner would start before it.
template <typename Slot>
int64_t ShownCommitted(SourceReader& source, const Slot& slot) {
  const int64_t acked = source.AcknowledgedCommit(slot.topic, slot.partition);
  if (acked == SourceReader::kCommitNotTracked) return slot.tracker.committed();
  return acked > slot.start_committed ? acked : slot.start_committed;
}

// Output and dead-letter topics. Delivery reports are handed to the
// callback given to SetDeliveryCallback(), from Poll()/Flush() only.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual Result<int32_t> PartitionCount(const std::string& topic) = 0;
  virtual void SetDeliveryCallback(DeliveryCallback callback) = 0;
  // As KafkaProducer::Produce: Unavailable means "queue full, Poll() and retry".
  virtual Status Send(std::string_view topic, int32_t partition, std::string_view key,
                      std::string_view value, int64_t timestamp_ms, uint64_t opaque) = 0;
  virtual void Poll(int timeout_ms) = 0;
  virtual Status Flush(int timeout_ms) = 0;
};

// Wall-clock epoch milliseconds (event times are epoch ms too).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() = 0;
};

Clock* SystemClock();

}  // namespace usp
