#pragma once
// The embedded Kafka-protocol broker: librdkafka's mock cluster, listening on
// loopback. A real protocol peer for kcat and every other Kafka client, with
// a bounded in-memory log per partition (not storage). Used by `uspctl local`
// and by integration tests.

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace usp {

class EmbeddedKafka {
 public:
  // Starts `brokers` mock brokers on 127.0.0.1 (random ports).
  static Result<std::unique_ptr<EmbeddedKafka>> Start(int brokers = 1);
  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

  // "127.0.0.1:PORT[,...]"
  const std::string& bootstrap() const { return bootstrap_; }

  // Creates a topic (the mock cluster lacks the CreateTopics API). Creating an
  // existing topic is not an error.
  Status CreateTopic(const std::string& topic, int32_t partitions, int32_t replication = 1);

  // For fault-injection tests; valid while this object lives.
  rd_kafka_mock_cluster_s* mock_cluster() { return cluster_; }

 private:
  EmbeddedKafka() = default;
  rd_kafka_s* handle_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace usp
