#include "runtime/kafka/kafka_common.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace usp::kafka_internal {

Status ErrorToStatus(rd_kafka_resp_err_t err, const std::string& context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  std::string msg = context + ": " + rd_kafka_err2str(err) + " (" + rd_kafka_err2name(err) + ")";
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
      return Status::Unavailable(std::move(msg));
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return Status::NotFound(std::move(msg));
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      return Status::InvalidArgument(std::move(msg));
    case RD_KAFKA_RESP_ERR__FATAL:
      return Status::Internal(std::move(msg));
    default:
      return Status::IoError(std::move(msg));
  }
}

namespace {

constexpr std::string_view kRedacted = "[redacted]";

// Replaces every occurrence of `secret` in `text`.
std::string Redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + kRedacted.size())) {
    text.replace(at, secret.size(), kRedacted);
  }
  return text;
}

}  // namespace

bool IsSecretKafkaProperty(std::string_view name) {
  return name.find("password") != std::string_view::npos ||
         name.find("secret") != std::string_view::npos || name == "ssl.key.pem" ||
         name == "ssl_key" || name == "sasl.oauthbearer.config";
}

std::string RedactKafkaProperties(const KafkaProperties& properties) {
  std::string out;
  for (const auto& [name, value] : properties) {
    if (!out.empty()) out += ", ";
    out += name;
    out += '=';
    out += IsSecretKafkaProperty(name) ? std::string(kRedacted) : value;
  }
  return out;
}

Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    std::string why = errstr;
    // librdkafka quotes rejected values ("Invalid value \"...\" for ...").
    if (IsSecretKafkaProperty(name)) why = Redact(std::move(why), value);
    return Status::InvalidArgument("kafka property " + name + ": " + why);
  }
  return Status::Ok();
}

Status SetProperties(rd_kafka_conf_t* conf, const KafkaProperties& properties) {
  for (const auto& [name, value] : properties) {
    USP_RETURN_IF_ERROR(SetProperty(conf, name, value));
  }
  for (const auto& [property, env] : {std::pair{"sasl.username", kSaslUsernameEnv},
                                      std::pair{"sasl.password", kSaslPasswordEnv}}) {
    const char* value = std::getenv(env);
    if (value == nullptr || *value == '\0' || properties.count(property) > 0) continue;
    USP_RETURN_IF_ERROR(SetProperty(conf, property, value));
  }
  return Status::Ok();
}

namespace {

// syslog levels (librdkafka) -> spdlog. Runs on librdkafka's threads; the
// default spdlog logger is thread-safe.
void OnLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  spdlog::level::level_enum lvl = spdlog::level::debug;
  if (level <= 3) {
    lvl = spdlog::level::err;
  } else if (level == 4) {
    lvl = spdlog::level::warn;
  } else if (level <= 6) {
    lvl = spdlog::level::info;
  }
  spdlog::log(lvl, "rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
}

void OnError(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    spdlog::error("kafka fatal error on {}: {}", rd_kafka_name(rk), fatal);
    return;
  }
  // Transport errors are retried by librdkafka and are routine while a
  // broker restarts; keep them at warn.
  spdlog::warn("kafka error on {}: {} ({})", rd_kafka_name(rk), reason, rd_kafka_err2name(code));
}

}  // namespace

void InstallLogAndErrorCallbacks(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, OnLog);
  rd_kafka_conf_set_error_cb(conf, OnError);
}

Result<int32_t> PartitionCount(rd_kafka_t* handle, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(handle, topic.c_str(), nullptr);
  if (rkt == nullptr) {
    return ErrorToStatus(rd_kafka_last_error(), "cannot create topic handle " + topic);
  }
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ErrorToStatus(err, "metadata for topic " + topic);
  }
  Result<int32_t> result = Status::NotFound("topic " + topic + " not in metadata");
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = ErrorToStatus(t.err, "metadata for topic " + topic);
    } else if (t.partition_cnt <= 0) {
      result = Status::NotFound("topic " + topic + " has no partitions");
    } else {
      result = t.partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

}  // namespace usp::kafka_internal
