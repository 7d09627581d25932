#include "runtime/kafka/embedded_kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace usp {

Result<std::unique_ptr<EmbeddedKafka>> EmbeddedKafka::Start(int brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The mock cluster needs a handle to run on; it is never used to produce.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(errstr);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::Internal(std::string("cannot create the broker's handle: ") + errstr);
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return Status::Unavailable("cannot start the embedded Kafka broker");
  }
  std::unique_ptr<EmbeddedKafka> kafka(new EmbeddedKafka());
  kafka->handle_ = rk;
  kafka->cluster_ = cluster;
  kafka->bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster);
  return kafka;
}

EmbeddedKafka::~EmbeddedKafka() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (handle_ != nullptr) rd_kafka_destroy(handle_);
}

Status EmbeddedKafka::CreateTopic(const std::string& topic, int32_t partitions,
                                  int32_t replication) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Status::Ok();
  }
  return Status::Internal("cannot create topic " + topic + ": " + rd_kafka_err2str(err));
}

namespace {

Status MockResult(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return Status::InvalidArgument(what + ": " + rd_kafka_err2str(err));
}

}  // namespace

Status EmbeddedKafka::SetBrokerDown(int32_t broker, bool down) {
  rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(cluster_, broker)
                                 : rd_kafka_mock_broker_set_up(cluster_, broker);
  return MockResult(err, "broker " + std::to_string(broker) + (down ? " down" : " up"));
}

Status EmbeddedKafka::PushRequestErrors(int32_t broker, int16_t api_key,
                                        const std::vector<int>& errors) {
  if (errors.empty()) return Status::Ok();
  if (broker < 0) {
    std::vector<rd_kafka_resp_err_t> codes;
    for (int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
    rd_kafka_mock_push_request_errors_array(cluster_, api_key, codes.size(), codes.data());
    return Status::Ok();
  }
  // The per-broker call is variadic only: one (error, rtt) tuple per call.
  for (int e : errors) {
    rd_kafka_resp_err_t err = rd_kafka_mock_broker_push_request_error_rtts(
        cluster_, broker, api_key, 1, static_cast<rd_kafka_resp_err_t>(e), 0);
    USP_RETURN_IF_ERROR(MockResult(err, "request errors on broker " + std::to_string(broker)));
  }
  return Status::Ok();
}

int64_t EmbeddedKafka::PendingRequestErrors(int32_t broker, int16_t api_key) {
  size_t count = 0;
  if (rd_kafka_mock_broker_error_stack_cnt(cluster_, broker, api_key, &count) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  return static_cast<int64_t>(count);
}

Status EmbeddedKafka::SetPartitionLeader(const std::string& topic, int32_t partition,
                                         int32_t broker) {
  return MockResult(
      rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker),
      "leader of " + topic + "[" + std::to_string(partition) + "] -> broker " +
          std::to_string(broker));
}

Status EmbeddedKafka::SetBrokerRtt(int32_t broker, int rtt_ms) {
  return MockResult(rd_kafka_mock_broker_set_rtt(cluster_, broker, rtt_ms),
                    "rtt of broker " + std::to_string(broker));
}

}  // namespace usp
