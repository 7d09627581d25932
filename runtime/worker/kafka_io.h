#pragma once
// SourceReader and RecordSink over the Kafka client: the production wiring of
// the worker's I/O edges.

#include <memory>
#include <string>

#include "runtime/kafka/kafka_client.h"
#include "runtime/worker/worker_io.h"

namespace usp {

class KafkaSourceReader : public SourceReader {
 public:
  static Result<std::unique_ptr<KafkaSourceReader>> Create(const ConsumerOptions& options,
                                                           int metadata_timeout_ms = 10000);

  Result<int32_t> PartitionCount(const std::string& topic) override;
  Status Assign(const std::vector<TopicPartitionOffset>& partitions) override;
  Result<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions) override;
  Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) override;
  Status Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) override;
  Status TakeCommitError() override { return consumer_->TakeAsyncCommitError(); }
  int64_t AcknowledgedCommit(const std::string& topic, int32_t partition) override {
    return consumer_->AcknowledgedCommit(topic, partition);
  }
  int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) override;

 private:
  KafkaSourceReader(std::unique_ptr<KafkaConsumer> consumer, int timeout_ms)
      : consumer_(std::move(consumer)), timeout_ms_(timeout_ms) {}
  std::unique_ptr<KafkaConsumer> consumer_;
  int timeout_ms_;
};

class KafkaRecordSink : public RecordSink {
 public:
  static Result<std::unique_ptr<KafkaRecordSink>> Create(const ProducerOptions& options,
                                                         int metadata_timeout_ms = 10000);

  Result<int32_t> PartitionCount(const std::string& topic) override;
  void SetDeliveryCallback(DeliveryCallback callback) override { callback_ = std::move(callback); }
  Status Send(std::string_view topic, int32_t partition, std::string_view key,
              std::string_view value, int64_t timestamp_ms, uint64_t opaque) override;
  void Poll(int timeout_ms) override;
  Status Flush(int timeout_ms) override;

 private:
  explicit KafkaRecordSink(int timeout_ms) : timeout_ms_(timeout_ms) {}
  std::unique_ptr<KafkaProducer> producer_;
  DeliveryCallback callback_;
  int timeout_ms_;
};

}  // namespace usp
