#pragma once
// Internal to runtime/kafka: helpers shared by the consumer and the producer.
// Not part of the public API (it includes librdkafka).

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"

namespace usp::kafka_internal {

// Maps a librdkafka error to a Status with `context` prepended.
Status ErrorToStatus(rd_kafka_resp_err_t err, const std::string& context);

// Sets one property; InvalidArgument naming it on failure. The value of a
// secret property (IsSecretKafkaProperty) never appears in the error.
Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// Sets `properties`, then the SASL credentials from the environment:
// $USP_KAFKA_SASL_USERNAME -> sasl.username and $USP_KAFKA_SASL_PASSWORD ->
// sasl.password (the Kubernetes Secret reference the chart and the operator
// give every pod), each only when set, non-empty and not in `properties`.
Status SetProperties(rd_kafka_conf_t* conf, const KafkaProperties& properties);

// The environment variables SetProperties reads the credentials from.
inline constexpr const char* kSaslUsernameEnv = "USP_KAFKA_SASL_USERNAME";
inline constexpr const char* kSaslPasswordEnv = "USP_KAFKA_SASL_PASSWORD";

// True for properties whose value is a secret and must never be logged,
// echoed in an error or put in a manifest: sasl.password, ssl.key.password,
// ssl.key.pem, ssl.keystore.password, sasl.oauthbearer.config,
// sasl.oauthbearer.client.secret and any name containing "password" or
// "secret".
bool IsSecretKafkaProperty(std::string_view name);

// "k1=v1, k2=v2" with every secret value replaced by "[redacted]": the only
// form in which properties may be logged.
std::string RedactKafkaProperties(const KafkaProperties& properties);

// Forwards librdkafka's logs and error events to spdlog.
void InstallLogAndErrorCallbacks(rd_kafka_conf_t* conf);

Result<int32_t> PartitionCount(rd_kafka_t* handle, const std::string& topic, int timeout_ms);

}  // namespace usp::kafka_internal
