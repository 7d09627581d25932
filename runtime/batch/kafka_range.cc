#include "runtime/batch/kafka_range.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "core/murmur2.h"
#include "runtime/batch/status_context.h"

namespace usp {

namespace {

// A plain librdkafka handle for the offset look-ups the wrapper does not
// offer (offsetsForTimes).
struct RawHandle {
  rd_kafka_t* rk = nullptr;
  ~RawHandle() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

Status MakeRawConsumer(const KafkaRangeOptions& options, RawHandle* out) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  KafkaProperties props = options.properties;
  props["bootstrap.servers"] = options.brokers;
  props["group.id"] = "usp-backfill";
  props["enable.auto.commit"] = "false";
  props["log_level"] = "3";
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("-X " + k + "=" + v + ": " + err);
    }
  }
  out->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (out->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka client: ") + err);
  }
  return Status::Ok();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::vector<PartitionRange>> ResolveKafkaRange(const KafkaRangeOptions& options,
                                                      const std::vector<std::string>& topics) {
  ConsumerOptions consumer_options;
  consumer_options.bootstrap = options.brokers;
  consumer_options.group_id = "usp-backfill";
  consumer_options.properties = options.properties;
  auto consumer = KafkaConsumer::Create(consumer_options);
  if (!consumer.ok()) return consumer.status();
  RawHandle raw;
  USP_RETURN_IF_ERROR(MakeRawConsumer(options, &raw));
  std::vector<PartitionRange> ranges;
  for (const std::string& topic : topics) {
    auto n = (*consumer)->PartitionCount(topic, options.timeout_ms);
    if (!n.ok()) return WithContext(n.status(), "source topic " + topic);
    if (*n <= 0) return Status::NotFound("source topic " + topic + " has no partitions");
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(*n);
    for (int32_t p = 0; p < *n; ++p) {
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = options.from_ms;
    }
    const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(raw.rk, list, options.timeout_ms);
    for (int32_t p = 0; p < *n; ++p) {
      auto marks = (*consumer)->QueryWatermarks(topic, p, options.timeout_ms);
      if (!marks.ok()) {
        rd_kafka_topic_partition_list_destroy(list);
        return WithContext(marks.status(), topic + "[" + std::to_string(p) + "]");
      }
      PartitionRange r{topic, p, marks->low, marks->high};
      const rd_kafka_topic_partition_t& e = list->elems[p];
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && e.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        // -1 should mean "no record at or after `from`", but some brokers
        // (the embedded one) answer -1 for any timestamp: read from the low
        // watermark then; records before `from` are skipped while reading.
        if (e.offset >= 0) r.start = std::max(e.offset, marks->low);
      } else {
        spdlog::debug("offsetsForTimes {}[{}] unavailable ({}): reading from the low watermark",
                      topic, p, rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : e.err));
      }
      if (r.start > r.end) r.start = r.end;
      spdlog::debug("{}[{}]: reading offsets [{}, {})", topic, p, r.start, r.end);
      ranges.push_back(r);
    }
    rd_kafka_topic_partition_list_destroy(list);
  }
  return ranges;
}

Status ReadKafkaRange(const KafkaRangeOptions& options, const std::vector<PartitionRange>& ranges,
                      const std::function<void(BatchInputRecord&&)>& visit,
                      const std::function<void(int64_t, int64_t)>& progress,
                      const std::function<bool()>& stop) {
  ConsumerOptions consumer_options;
  consumer_options.bootstrap = options.brokers;
  consumer_options.group_id = "usp-backfill";
  consumer_options.properties = options.properties;
  auto consumer = KafkaConsumer::Create(consumer_options);
  if (!consumer.ok()) return consumer.status();
  std::vector<TopicPartitionOffset> assign;
  std::map<TopicPartition, const PartitionRange*> open;
  int64_t total = 0;
  for (const auto& r : ranges) {
    total += r.end - r.start;
    if (r.start >= r.end) continue;
    assign.push_back({r.topic, r.partition, r.start});
    open[{r.topic, r.partition}] = &r;
  }
  USP_RETURN_IF_ERROR((*consumer)->Assign(assign));
  int64_t read = 0;
  int64_t last_data = NowMs();
  std::vector<ConsumedMessage> batch;
  progress(0, total);
  while (!open.empty() && !stop()) {
    USP_RETURN_IF_ERROR((*consumer)->Poll(1000, 200, &batch));
    if (batch.empty()) {
      if (NowMs() - last_data > options.timeout_ms) {
        return Status::Unavailable("no data from the brokers for " +
                                   std::to_string(options.timeout_ms) + " ms with " +
                                   std::to_string(open.size()) + " partition(s) unfinished");
      }
      continue;
    }
    last_data = NowMs();
    for (const ConsumedMessage& m : batch) {
      auto it = open.find({std::string(m.topic), m.partition});
      if (it == open.end()) continue;  // finished already
      const PartitionRange& r = *it->second;
      if (m.offset < r.start) continue;
      ++read;
      const bool past = m.timestamp_ms >= options.to_ms;
      if (!past && m.timestamp_ms >= options.from_ms && !m.payload.empty()) {
        visit(BatchInputRecord{std::string(m.topic), m.partition, m.offset, m.timestamp_ms,
                               std::string(m.payload)});
      }
      if (past || m.offset + 1 >= r.end) {
        read += r.end - m.offset - 1;  // the rest of the range is not read
        open.erase(it);
      }
    }
    progress(read, total);
  }
  return Status::Ok();
}

Result<std::unique_ptr<TopicRowWriter>> TopicRowWriter::Create(const std::string& brokers,
                                                               const KafkaProperties& properties,
                                                               const std::string& topic) {
  std::unique_ptr<TopicRowWriter> w(new TopicRowWriter());
  ProducerOptions options;
  options.bootstrap = brokers;
  options.properties = properties;
  TopicRowWriter* self = w.get();
  auto producer = KafkaProducer::Create(options, [self](const DeliveryReport& report) {
    if (!report.status.ok() && self->failed_.ok()) {
      self->failed_ = Status::Unavailable(std::string(report.topic) +
                                          ": record not delivered: " + report.status.message());
    }
  });
  if (!producer.ok()) return producer.status();
  w->producer_ = std::move(producer).value();
  w->topic_ = topic;
  auto n = w->producer_->PartitionCount(topic, 30000);
  if (!n.ok()) return WithContext(n.status(), "--to-topic " + topic);
  w->partitions_ = *n;
  return w;
}

Status TopicRowWriter::Write(const RowList& rows, size_t begin, size_t end, WriteCounts* counts) {
  for (size_t i = begin; i < end && i < rows.size(); ++i) {
    const std::string& user = rows.UserOf(i);
    const std::string value = rows.JsonOf(i);
    int64_t version = rows.kind == RowKind::kSignal    ? rows.signals[i].version
                      : rows.kind == RowKind::kSegment ? rows.segments[i].version
                                                       : rows.sessions[i].version;
    while (true) {
      Status s =
          producer_->Produce(topic_, PartitionForKey(user, partitions_), user, value, version, 0);
      if (s.ok()) break;
      if (s.code() != Status::Code::kUnavailable) return s;
      producer_->Poll(100);
    }
    ++counts->written;
  }
  USP_RETURN_IF_ERROR(producer_->Flush(60000));
  return failed_;
}

}  // namespace usp
