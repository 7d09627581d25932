#pragma once
// Internal to runtime/kafka: helpers shared by the consumer and the producer.
// Not part of the public API (it includes librdkafka).

#include <librdkafka/rdkafka.h>

#include <string>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"

namespace usp::kafka_internal {

// Maps a librdkafka error to a Status with `context` prepended.
Status ErrorToStatus(rd_kafka_resp_err_t err, const std::string& context);

// Sets one property; InvalidArgument naming it on failure.
Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);
Status SetProperties(rd_kafka_conf_t* conf, const KafkaProperties& properties);

// Forwards librdkafka's logs and error events to spdlog.
void InstallLogAndErrorCallbacks(rd_kafka_conf_t* conf);

Result<int32_t> PartitionCount(rd_kafka_t* handle, const std::string& topic, int timeout_ms);

}  // namespace usp::kafka_internal
