#include "bench/bench_kafka.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace usp::bench {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "usp-bench-kafka: %s\n", message.c_str());
  std::exit(2);
}

}  // namespace

Result<Flags> Flags::Parse(int argc, char** argv) {
  Flags flags;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (int j = i + 1; j < argc; ++j) flags.rest_.emplace_back(argv[j]);
      break;
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) {
      return Status::InvalidArgument("expected --name value, got '" + arg + "'");
    }
    flags.values_[arg.substr(2)] = argv[++i];
  }
  return flags;
}

std::string Flags::Str(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) Die("missing --" + name);
  return it->second;
}

std::string Flags::Str(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t Flags::Int(const std::string& name) const {
  std::string text = Str(name);
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0') Die("--" + name + ": not an integer: " + text);
  return v;
}

int64_t Flags::Int(const std::string& name, int64_t fallback) const {
  return Has(name) ? Int(name) : fallback;
}

Properties ConsumerProperties(const std::string& bootstrap, const std::string& group_id) {
  return {{"bootstrap.servers", bootstrap},
          {"group.id", group_id},
          {"client.id", "usp-bench"},
          {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"},
          {"enable.partition.eof", "false"},
          {"auto.offset.reset", "earliest"},
          {"log_level", "3"}};
}

Properties ProducerProperties(const std::string& bootstrap) {
  return {{"bootstrap.servers", bootstrap},
          {"client.id", "usp-bench"},
          {"acks", "all"},
          {"linger.ms", "5"},
          {"batch.num.messages", "10000"},
          {"batch.size", "1000000"},
          {"message.timeout.ms", "30000"},
          {"compression.codec", "none"},
          {"partitioner", "murmur2_random"},
          {"log_level", "3"}};
}

rd_kafka_t* NewClient(rd_kafka_type_t type, const Properties& properties,
                      void (*conf_hook)(rd_kafka_conf_t*)) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      Die(name + ": " + errstr);
    }
  }
  if (conf_hook != nullptr) conf_hook(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (rk == nullptr) Die(std::string("rd_kafka_new: ") + errstr);
  return rk;
}

Result<int32_t> PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("metadata for " + topic + ": " + rd_kafka_err2str(err));
  }
  Result<int32_t> result = Status::NotFound("topic " + topic + " does not exist");
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topics[i].partition_cnt > 0) {
      result = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

int64_t PartitionOffsets::HighSum() const {
  int64_t sum = 0;
  for (int64_t h : high) sum += h;
  return sum;
}

bool PartitionOffsets::Truncated() const {
  for (int64_t l : low) {
    if (l != 0) return true;
  }
  return false;
}

Result<PartitionOffsets> QueryOffsets(rd_kafka_t* rk, const std::string& topic,
                                      int32_t partitions) {
  PartitionOffsets offsets;
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable("watermarks of " + topic + "[" + std::to_string(p) +
                                 "]: " + rd_kafka_err2str(err));
    }
    offsets.low.push_back(low);
    offsets.high.push_back(high);
  }
  return offsets;
}

Result<int64_t> EndOffsetSum(rd_kafka_t* rk, const std::string& topic, int32_t partitions) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions; ++p) {
    // offsets_for_times takes a timestamp in .offset; -1 asks for the end.
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
  }
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list, 5000);
  Result<int64_t> result =
      Status::Unavailable(std::string("end offsets of ") + topic + ": " + rd_kafka_err2str(err));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    int64_t sum = 0;
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = list->elems[i].err;
        break;
      }
      if (list->elems[i].offset > 0) sum += list->elems[i].offset;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = sum;
    } else {
      result = Status::Unavailable("end offset of " + topic + ": " + rd_kafka_err2str(err));
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  return result;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace usp::bench
