#include "runtime/query/signal_source.h"

namespace usp {

Result<std::unique_ptr<KafkaSignalSource>> KafkaSignalSource::Create(
    const std::string& bootstrap, const KafkaProperties& properties) {
  ConsumerOptions options;
  options.bootstrap = bootstrap;
  // librdkafka needs a group id for manual assignment; nothing is committed
  // under it and no group is joined.
  options.group_id = "usp-serve";
  options.client_id = "usp-serve";
  options.auto_offset_reset = "earliest";
  options.properties = properties;
  auto consumer = KafkaConsumer::Create(options);
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<KafkaSignalSource>(new KafkaSignalSource(std::move(consumer).value()));
}

Result<int32_t> KafkaSignalSource::PartitionCount(const std::string& topic, int timeout_ms) {
  return consumer_->PartitionCount(topic, timeout_ms);
}

Result<Watermarks> KafkaSignalSource::QueryWatermarks(const std::string& topic, int32_t partition,
                                                      int timeout_ms) {
  return consumer_->QueryWatermarks(topic, partition, timeout_ms);
}

Status KafkaSignalSource::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  return consumer_->Assign(partitions);
}

Status KafkaSignalSource::Poll(int max_messages, int timeout_ms,
                               std::vector<ConsumedMessage>* out) {
  return consumer_->Poll(max_messages, timeout_ms, out);
}

int64_t KafkaSignalSource::Lag(const std::string& topic, int32_t partition, int64_t next_offset) {
  return consumer_->Lag(topic, partition, next_offset);
}

}  // namespace usp
