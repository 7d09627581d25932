#pragma once
// The embedded Kafka-protocol broker: librdkafka's mock cluster, listening on
// loopback. A real protocol peer for kcat and every other Kafka client, with
// a bounded in-memory log per partition (not storage). Used by `uspctl local`
// and by integration tests.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

  // ---- Fault injection (tests). Broker ids are 1..brokers; -1 means every
  // broker where noted. Errors are librdkafka's rd_kafka_resp_err_t values
  // (e.g. RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION). Every method returns
  // InvalidArgument naming the bad broker/topic when the cluster refuses.

  // Kafka protocol request types for PushRequestErrors().
  static constexpr int16_t kApiProduce = 0;
  static constexpr int16_t kApiFetch = 1;
  static constexpr int16_t kApiOffsetCommit = 8;

  // down=true disconnects `broker` (-1: all) and refuses new connections;
  // false accepts them again. Neither moves partition leaders.
  Status SetBrokerDown(int32_t broker, bool down);
  // The next errors.size() requests of type `api_key` fail, in order, with
  // these errors: on `broker` only, or on any broker when broker is -1.
  // RD_KAFKA_RESP_ERR__TRANSPORT disconnects the client instead.
  Status PushRequestErrors(int32_t broker, int16_t api_key, const std::vector<int>& errors);
  // Errors pushed on `broker` for `api_key` not yet consumed by a request
  // (per-broker pushes only; -1 when unknown).
  int64_t PendingRequestErrors(int32_t broker, int16_t api_key);
  // Makes `broker` the leader of topic[partition] (-1: leaderless).
  Status SetPartitionLeader(const std::string& topic, int32_t partition, int32_t broker);
  // Delays every response of `broker` (-1: all) by `rtt_ms` (0: none).
  Status SetBrokerRtt(int32_t broker, int rtt_ms);

  // For other fault-injection needs; valid while this object lives.
  rd_kafka_mock_cluster_s* mock_cluster() { return cluster_; }

 private:
  EmbeddedKafka() = default;
  rd_kafka_s* handle_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace usp
