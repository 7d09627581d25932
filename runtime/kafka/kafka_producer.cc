// KafkaProducer (declared in kafka_client.h).
// clang's -Wpedantic rejects librdkafka's RD_KAFKA_V_* argument type checks
// (GNU statement expressions); g++ builds keep them.
#if defined(__clang__) && !defined(LIBRDKAFKA_TYPECHECKS)
#define LIBRDKAFKA_TYPECHECKS 0
#endif
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <cstdint>

#include "runtime/kafka/kafka_client.h"
#include "runtime/kafka/kafka_common.h"

namespace usp {

using kafka_internal::ErrorToStatus;
using kafka_internal::SetProperty;

// Static trampolines with access to the producer's private state.
struct KafkaProducerCallbacks {
  // Runs inside rd_kafka_poll()/rd_kafka_flush() on the caller's thread.
  static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    if (!self->on_delivery_) return;
    DeliveryReport report;
    report.opaque = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
    report.topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : std::string_view();
    report.partition = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      report.offset = m->offset;
    } else {
      report.status = ErrorToStatus(m->err, "delivery to " + std::string(report.topic) + "[" +
                                                std::to_string(m->partition) + "]");
    }
    self->on_delivery_(report);
  }
};

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const ProducerOptions& options,
                                                             DeliveryCallback on_delivery) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::unique_ptr<KafkaProducer> producer(new KafkaProducer());
  producer->on_delivery_ = std::move(on_delivery);
  Status s = [&]() -> Status {
    USP_RETURN_IF_ERROR(SetProperty(conf, "bootstrap.servers", options.bootstrap));
    USP_RETURN_IF_ERROR(SetProperty(conf, "client.id", options.client_id));
    USP_RETURN_IF_ERROR(SetProperty(conf, "acks", options.acks));
    USP_RETURN_IF_ERROR(SetProperty(conf, "linger.ms", std::to_string(options.linger_ms)));
    USP_RETURN_IF_ERROR(
        SetProperty(conf, "batch.num.messages", std::to_string(options.batch_num_messages)));
    USP_RETURN_IF_ERROR(SetProperty(conf, "batch.size", std::to_string(options.batch_size_bytes)));
    USP_RETURN_IF_ERROR(
        SetProperty(conf, "message.timeout.ms", std::to_string(options.message_timeout_ms)));
    USP_RETURN_IF_ERROR(SetProperty(conf, "compression.codec", options.compression));
    // Same placement as Kafka's Java client for keyed messages.
    USP_RETURN_IF_ERROR(SetProperty(conf, "partitioner", "murmur2_random"));
    USP_RETURN_IF_ERROR(kafka_internal::SetProperties(conf, options.properties));
    return Status::Ok();
  }();
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  kafka_internal::InstallLogAndErrorCallbacks(conf);
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaProducerCallbacks::OnDelivery);
  rd_kafka_conf_set_opaque(conf, producer.get());
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("cannot create kafka producer: ") + errstr);
  }
  producer->handle_ = rk;
  return producer;
}

KafkaProducer::~KafkaProducer() {
  if (handle_ == nullptr) return;
  if (rd_kafka_flush(handle_, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka producer closed with {} undelivered messages", rd_kafka_outq_len(handle_));
  }
  for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(handle_);
}

rd_kafka_topic_s* KafkaProducer::TopicHandle(std::string_view topic) {
  // Linear: a job writes to one or two topics.
  for (auto& [name, rkt] : topics_) {
    if (name == topic) return rkt;
  }
  std::string name(topic);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(handle_, name.c_str(), nullptr);
  if (rkt == nullptr) return nullptr;
  topics_.emplace_back(std::move(name), rkt);
  return rkt;
}

Status KafkaProducer::Produce(std::string_view topic, int32_t partition, std::string_view key,
                              std::string_view value, int64_t timestamp_ms, uint64_t opaque) {
  rd_kafka_topic_t* rkt = TopicHandle(topic);
  if (rkt == nullptr) {
    return ErrorToStatus(rd_kafka_last_error(), "topic handle for " + std::string(topic));
  }
  rd_kafka_resp_err_t err = rd_kafka_producev(
      handle_, RD_KAFKA_V_RKT(rkt),
      RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_TIMESTAMP(timestamp_ms),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(opaque))), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(handle_, fatal, sizeof(fatal));
    return Status::Internal(std::string("kafka producer fatal error: ") + fatal);
  }
  return ErrorToStatus(err,
                       "produce to " + std::string(topic) + "[" + std::to_string(partition) + "]");
}

int KafkaProducer::Poll(int timeout_ms) { return rd_kafka_poll(handle_, timeout_ms); }

Status KafkaProducer::Flush(int timeout_ms) {
  rd_kafka_resp_err_t err = rd_kafka_flush(handle_, timeout_ms);
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return Status::Unavailable("producer flush timed out with " +
                               std::to_string(rd_kafka_outq_len(handle_)) +
                               " messages outstanding");
  }
  return ErrorToStatus(err, "producer flush");
}

int KafkaProducer::OutstandingMessages() const { return rd_kafka_outq_len(handle_); }

Result<int32_t> KafkaProducer::PartitionCount(const std::string& topic, int timeout_ms) {
  return kafka_internal::PartitionCount(handle_, topic, timeout_ms);
}

}  // namespace usp
