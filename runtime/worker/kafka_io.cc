#include "runtime/worker/kafka_io.h"

#include <chrono>

namespace usp {

namespace {

class SystemClockImpl : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Clock* SystemClock() {
  static SystemClockImpl clock;
  return &clock;
}

Result<std::unique_ptr<KafkaSourceReader>> KafkaSourceReader::Create(const ConsumerOptions& options,
                                                                     int metadata_timeout_ms) {
  auto consumer = KafkaConsumer::Create(options);
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<KafkaSourceReader>(
      new KafkaSourceReader(std::move(consumer).value(), metadata_timeout_ms));
}

Result<int32_t> KafkaSourceReader::PartitionCount(const std::string& topic) {
  return consumer_->PartitionCount(topic, timeout_ms_);
}

Status KafkaSourceReader::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  return consumer_->Assign(partitions);
}

Result<std::vector<TopicPartitionOffset>> KafkaSourceReader::Committed(
    const std::vector<TopicPartition>& partitions) {
  return consumer_->Committed(partitions, timeout_ms_);
}

Status KafkaSourceReader::Poll(int max_messages, int timeout_ms,
                               std::vector<ConsumedMessage>* out) {
  return consumer_->Poll(max_messages, timeout_ms, out);
}

Status KafkaSourceReader::Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) {
  if (sync) return consumer_->CommitSync(offsets);
  // A failed async commit is taken by TakeCommitError().
  return consumer_->CommitAsync(offsets);
}

int64_t KafkaSourceReader::Lag(const std::string& topic, int32_t partition, int64_t next_offset) {
  return consumer_->Lag(topic, partition, next_offset);
}

Result<std::unique_ptr<KafkaRecordSink>> KafkaRecordSink::Create(const ProducerOptions& options,
                                                                 int metadata_timeout_ms) {
  std::unique_ptr<KafkaRecordSink> sink(new KafkaRecordSink(metadata_timeout_ms));
  KafkaRecordSink* raw = sink.get();
  auto producer = KafkaProducer::Create(options, [raw](const DeliveryReport& report) {
    if (raw->callback_) raw->callback_(report);
  });
  if (!producer.ok()) return producer.status();
  sink->producer_ = std::move(producer).value();
  return sink;
}

Result<int32_t> KafkaRecordSink::PartitionCount(const std::string& topic) {
  return producer_->PartitionCount(topic, timeout_ms_);
}

Status KafkaRecordSink::Send(std::string_view topic, int32_t partition, std::string_view key,
                             std::string_view value, int64_t timestamp_ms, uint64_t opaque) {
  return producer_->Produce(topic, partition, key, value, timestamp_ms, opaque);
}

void KafkaRecordSink::Poll(int timeout_ms) { producer_->Poll(timeout_ms); }

Status KafkaRecordSink::Flush(int timeout_ms) { return producer_->Flush(timeout_ms); }

}  // namespace usp
