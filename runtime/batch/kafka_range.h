#pragma once
// Kafka edges of a backfill: reading a time range of the source topics, and
// writing rows to the job's output topic.
//
// A range [from, to) of a partition: it starts at offsetsForTimes(from) (the
// first offset whose timestamp is >= from; the low watermark when the
// broker cannot answer, records before `from` are then skipped) and stops at
// the first record with timestamp >= to, or at the high watermark taken when
// the range was resolved, whichever comes first. The resolved offsets go
// into the checkpoint, so a resumed run reads exactly the same records even
// if the topic grew meanwhile.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/batch/batch_input.h"
#include "runtime/batch/batch_writer.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {

struct KafkaRangeOptions {
  std::string brokers;
  KafkaProperties properties;  // -X key=value
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int timeout_ms = 30000;  // per metadata/offset request, and the longest wait for data
};

struct PartitionRange {
  std::string topic;
  int32_t partition = 0;
  int64_t start = 0;  // first offset to read
  int64_t end = 0;    // one past the last offset to read (the high watermark)
};

// The offsets of [from, to) on every partition of `topics`. NotFound naming
// a topic without partitions, Unavailable when the brokers do not answer.
Result<std::vector<PartitionRange>> ResolveKafkaRange(const KafkaRangeOptions& options,
                                                      const std::vector<std::string>& topics);

// Reads `ranges`, calling `visit` for each record with timestamp in [from,
// to), and `progress(read_offsets, total_offsets)` now and then. Stops early
// (Ok) when `stop()` returns true.
Status ReadKafkaRange(const KafkaRangeOptions& options, const std::vector<PartitionRange>& ranges,
                      const std::function<void(BatchInputRecord&&)>& visit,
                      const std::function<void(int64_t, int64_t)>& progress,
                      const std::function<bool()>& stop);

// Produces rows to `topic` (key = user_id, partition = murmur2(user_id) %
// the topic's partitions, timestamp = the row's version) and waits for every
// acknowledgement before Write() returns.
class TopicRowWriter : public RowWriter {
 public:
  static Result<std::unique_ptr<TopicRowWriter>> Create(const std::string& brokers,
                                                        const KafkaProperties& properties,
                                                        const std::string& topic);
  Status Write(const RowList& rows, size_t begin, size_t end, WriteCounts* counts) override;

 private:
  TopicRowWriter() = default;
  std::unique_ptr<KafkaProducer> producer_;
  std::string topic_;
  int32_t partitions_ = 0;
  Status failed_;
};

}  // namespace usp
