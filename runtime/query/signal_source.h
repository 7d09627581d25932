#pragma once
// SignalSource: where the materializer reads signal records from — the Kafka
// edge of the query service, as a small interface so that the materializer
// logic is tested with a fake. Production: KafkaSignalSource.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {

class SignalSource {
 public:
  virtual ~SignalSource() = default;

  // Number of partitions of `topic`. NotFound when it does not exist.
  virtual Result<int32_t> PartitionCount(const std::string& topic, int timeout_ms) = 0;
  // A partition's oldest available offset and end offset (one past its
  // newest message), asked of the broker.
  virtual Result<Watermarks> QueryWatermarks(const std::string& topic, int32_t partition,
                                             int timeout_ms) = 0;
  // Replaces the assignment; each partition starts at `offset` (absolute or
  // kOffsetBeginning).
  virtual Status Assign(const std::vector<TopicPartitionOffset>& partitions) = 0;
  // Up to `max_messages`, waiting at most `timeout_ms` for the first. The
  // views in `out` stay valid until the next Poll()/Assign().
  virtual Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) = 0;
  // Messages behind `next_offset` on a partition, from cached watermarks;
  // -1 when not known yet.
  virtual int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) = 0;
};

// A SignalSource over USP's KafkaConsumer (manual assignment, nothing
// committed to Kafka: the store holds the offsets).
class KafkaSignalSource : public SignalSource {
 public:
  static Result<std::unique_ptr<KafkaSignalSource>> Create(const std::string& bootstrap,
                                                           const KafkaProperties& properties);

  Result<int32_t> PartitionCount(const std::string& topic, int timeout_ms) override;
  Result<Watermarks> QueryWatermarks(const std::string& topic, int32_t partition,
                                     int timeout_ms) override;
  Status Assign(const std::vector<TopicPartitionOffset>& partitions) override;
  Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) override;
  int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) override;

 private:
  explicit KafkaSignalSource(std::unique_ptr<KafkaConsumer> consumer)
      : consumer_(std::move(consumer)) {}
  std::unique_ptr<KafkaConsumer> consumer_;
};

}  // namespace usp
