// KafkaConsumer (declared in kafka_client.h).
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "runtime/kafka/kafka_client.h"
#include "runtime/kafka/kafka_common.h"

namespace usp {

using kafka_internal::ErrorToStatus;
using kafka_internal::SetProperty;

namespace {

struct PartitionList {
  rd_kafka_topic_partition_list_t* list;
  explicit PartitionList(size_t n) : list(rd_kafka_topic_partition_list_new(static_cast<int>(n))) {}
  explicit PartitionList(const std::vector<TopicPartitionOffset>& offsets)
      : PartitionList(offsets.size()) {
    for (const auto& o : offsets) {
      rd_kafka_topic_partition_list_add(list, o.topic.c_str(), o.partition)->offset = o.offset;
    }
  }
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
};

}  // namespace

// Static trampolines with access to the consumer's private state.
struct KafkaConsumerCallbacks {
  static void OnCommit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    // _NO_OFFSET: there was nothing to commit, which is not a failure.
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    Status s = ErrorToStatus(err, "async offset commit");
    if (s.ok() && offsets != nullptr) {
      for (int i = 0; i < offsets->cnt; ++i) {
        const auto& p = offsets->elems[i];
        if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          s = ErrorToStatus(p.err, "async offset commit of " + std::string(p.topic) + "[" +
                                       std::to_string(p.partition) + "]");
          break;
        }
      }
    }
    if (!s.ok()) {
      spdlog::warn("{}", s.ToString());
      if (self->async_commit_error_.ok()) self->async_commit_error_ = s;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != nullptr) self->Acknowledge(offsets);
  }
};

void KafkaConsumer::Acknowledge(const rd_kafka_topic_partition_list_s* offsets) {
  std::lock_guard<std::mutex> lock(acknowledged_mutex_);
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& p = offsets->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.offset < 0) continue;
    int64_t& acked = acknowledged_.try_emplace({p.topic, p.partition}, p.offset).first->second;
    acked = std::max(acked, p.offset);
  }
}

int64_t KafkaConsumer::AcknowledgedCommit(const std::string& topic, int32_t partition) const {
  std::lock_guard<std::mutex> lock(acknowledged_mutex_);
  auto it = acknowledged_.find({topic, partition});
  return it == acknowledged_.end() ? kOffsetInvalid : it->second;
}

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const ConsumerOptions& options) {
  if (options.group_id.empty()) {
    return Status::InvalidArgument(
        "consumer group id is required (offsets are committed under it)");
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::unique_ptr<KafkaConsumer> consumer(new KafkaConsumer());
  Status s = [&]() -> Status {
    USP_RETURN_IF_ERROR(SetProperty(conf, "bootstrap.servers", options.bootstrap));
    USP_RETURN_IF_ERROR(SetProperty(conf, "group.id", options.group_id));
    USP_RETURN_IF_ERROR(SetProperty(conf, "client.id", options.client_id));
    USP_RETURN_IF_ERROR(SetProperty(conf, "enable.auto.commit", "false"));
    USP_RETURN_IF_ERROR(SetProperty(conf, "enable.auto.offset.store", "false"));
    USP_RETURN_IF_ERROR(SetProperty(conf, "enable.partition.eof", "false"));
    USP_RETURN_IF_ERROR(SetProperty(conf, "auto.offset.reset", options.auto_offset_reset));
    // End-to-end latency is a product goal (< 1 s, p99 < 100 ms): the broker
    // answers a fetch as soon as data arrives, and waits at most 50 ms when
    // idle instead of librdkafka's 500 ms default. Properties may override.
    USP_RETURN_IF_ERROR(SetProperty(conf, "fetch.wait.max.ms", "50"));
    USP_RETURN_IF_ERROR(kafka_internal::SetProperties(conf, options.properties));
    return Status::Ok();
  }();
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  kafka_internal::InstallLogAndErrorCallbacks(conf);
  rd_kafka_conf_set_offset_commit_cb(conf, &KafkaConsumerCallbacks::OnCommit);
  rd_kafka_conf_set_opaque(conf, consumer.get());
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("cannot create kafka consumer: ") + errstr);
  }
  // One queue for messages, errors and commit results, all served by Poll().
  rd_kafka_poll_set_consumer(rk);
  consumer->handle_ = rk;
  return consumer;
}

KafkaConsumer::~KafkaConsumer() {
  ReleaseMessages();
  if (handle_ == nullptr) return;
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(handle_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("closing kafka consumer: {}", rd_kafka_err2str(err));
  }
  rd_kafka_destroy(handle_);
}

void KafkaConsumer::ReleaseMessages() {
  for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
  held_.clear();
}

Status KafkaConsumer::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  ReleaseMessages();
  PartitionList pl(partitions);
  rd_kafka_resp_err_t err = rd_kafka_assign(handle_, partitions.empty() ? nullptr : pl.list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return ErrorToStatus(err, "assign partitions");
  assignment_.clear();
  for (const auto& p : partitions) assignment_.push_back({p.topic, p.partition});
  std::lock_guard<std::mutex> lock(acknowledged_mutex_);
  acknowledged_.clear();  // a new start: what the broker holds now is read again
  return Status::Ok();
}

Status KafkaConsumer::Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) {
  ReleaseMessages();
  out->clear();
  int wait_ms = timeout_ms;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (static_cast<int>(out->size()) < max_messages) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(handle_, wait_ms);
    if (m == nullptr) break;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(handle_, fatal, sizeof(fatal));
        rd_kafka_message_destroy(m);
        return Status::Internal(std::string("kafka consumer fatal error: ") + fatal);
      }
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        const char* topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
        spdlog::warn("kafka consume error on {}[{}]: {}", topic, m->partition,
                     rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      // Errors are not messages: keep waiting for the first real one.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (out->empty() && left > 0) {
        wait_ms = static_cast<int>(left);
        continue;
      }
      break;
    }
    held_.push_back(m);
    ConsumedMessage& c = out->emplace_back();
    c.topic = rd_kafka_topic_name(m->rkt);
    c.partition = m->partition;
    c.offset = m->offset;
    if (m->key != nullptr) c.key = {static_cast<const char*>(m->key), m->key_len};
    if (m->payload != nullptr) c.payload = {static_cast<const char*>(m->payload), m->len};
    c.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    // Later messages: only what is already buffered.
    wait_ms = 0;
  }
  return Status::Ok();
}

Status KafkaConsumer::CommitSync(const std::vector<TopicPartitionOffset>& offsets) {
  if (offsets.empty()) return Status::Ok();
  PartitionList pl(offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit(handle_, pl.list, 0);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return Status::Ok();
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) Acknowledge(pl.list);
  return ErrorToStatus(err, "offset commit");
}

Status KafkaConsumer::CommitAsync(const std::vector<TopicPartitionOffset>& offsets) {
  if (offsets.empty()) return Status::Ok();
  PartitionList pl(offsets);
  return ErrorToStatus(rd_kafka_commit(handle_, pl.list, 1), "offset commit");
}

Status KafkaConsumer::TakeAsyncCommitError() {
  Status s = std::move(async_commit_error_);
  async_commit_error_ = Status::Ok();
  return s;
}

Result<std::vector<TopicPartitionOffset>> KafkaConsumer::Committed(
    const std::vector<TopicPartition>& partitions, int timeout_ms) {
  PartitionList pl(partitions.size());
  for (const auto& p : partitions) {
    rd_kafka_topic_partition_list_add(pl.list, p.topic.c_str(), p.partition);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(handle_, pl.list, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return ErrorToStatus(err, "fetch committed offsets");
  std::vector<TopicPartitionOffset> result;
  result.reserve(partitions.size());
  for (int i = 0; i < pl.list->cnt; ++i) {
    const auto& e = pl.list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ErrorToStatus(e.err, "committed offset of " + std::string(e.topic) + "[" +
                                      std::to_string(e.partition) + "]");
    }
    result.push_back({e.topic, e.partition, e.offset < 0 ? kOffsetInvalid : e.offset});
  }
  return result;
}

Result<Watermarks> KafkaConsumer::QueryWatermarks(const std::string& topic, int32_t partition,
                                                  int timeout_ms) {
  Watermarks w;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(handle_, topic.c_str(), partition,
                                                             &w.low, &w.high, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ErrorToStatus(err, "watermarks of " + topic + "[" + std::to_string(partition) + "]");
  }
  return w;
}

Watermarks KafkaConsumer::CachedWatermarks(const std::string& topic, int32_t partition) {
  Watermarks w;
  if (rd_kafka_get_watermark_offsets(handle_, topic.c_str(), partition, &w.low, &w.high) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Watermarks{};
  }
  if (w.low < 0) w.low = kOffsetInvalid;
  if (w.high < 0) w.high = kOffsetInvalid;
  return w;
}

int64_t KafkaConsumer::Lag(const std::string& topic, int32_t partition, int64_t next_offset) {
  Watermarks w = CachedWatermarks(topic, partition);
  if (w.high < 0) return -1;
  if (next_offset < 0) next_offset = w.low >= 0 ? w.low : 0;
  return w.high > next_offset ? w.high - next_offset : 0;
}

Result<int32_t> KafkaConsumer::PartitionCount(const std::string& topic, int timeout_ms) {
  return kafka_internal::PartitionCount(handle_, topic, timeout_ms);
}

}  // namespace usp
