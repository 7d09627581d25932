#pragma once
// Small librdkafka helpers shared by the benchmark tools (usp-bench-kafka).
// The tools talk to librdkafka's C API directly: the raw copy is the
// reference R1 is measured against, so it must not go through USP's code.

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace usp::bench {

// --name value flags, plus everything after "--" as `rest`.
class Flags {
 public:
  static Result<Flags> Parse(int argc, char** argv);
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  // Exits with a message when a required flag is missing or not a number.
  std::string Str(const std::string& name) const;
  std::string Str(const std::string& name, const std::string& fallback) const;
  int64_t Int(const std::string& name) const;
  int64_t Int(const std::string& name, int64_t fallback) const;
  const std::vector<std::string>& rest() const { return rest_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> rest_;
};

using Properties = std::vector<std::pair<std::string, std::string>>;

// The client settings of USP's KafkaConsumer / KafkaProducer defaults
// (runtime/kafka), so that the raw copy and the worker run alike.
Properties ConsumerProperties(const std::string& bootstrap, const std::string& group_id);
Properties ProducerProperties(const std::string& bootstrap);

// rd_kafka_new with `properties`; exits with a message on error. `conf_hook`
// may register callbacks on the conf before the handle is created.
rd_kafka_t* NewClient(rd_kafka_type_t type, const Properties& properties,
                      void (*conf_hook)(rd_kafka_conf_t*) = nullptr);

Result<int32_t> PartitionCount(rd_kafka_t* rk, const std::string& topic);

struct PartitionOffsets {
  std::vector<int64_t> low;   // oldest offset still in the log
  std::vector<int64_t> high;  // end offset
  int64_t HighSum() const;
  // True when some partition's log no longer starts at 0: the mock
  // cluster dropped old messages (its per-partition log is bounded).
  bool Truncated() const;
};

// Watermarks of every partition, one ListOffsets round trip per partition.
Result<PartitionOffsets> QueryOffsets(rd_kafka_t* rk, const std::string& topic, int32_t partitions);

// End offsets of every partition in one ListOffsets request per broker
// (offsets_for_times with the "latest" timestamp): cheap enough to poll.
Result<int64_t> EndOffsetSum(rd_kafka_t* rk, const std::string& topic, int32_t partitions);

int64_t NowMs();  // wall clock, epoch ms
double MonotonicSeconds();

}  // namespace usp::bench
