#pragma once
// Reading resource documents field by field, recording every problem against
// its field path. Internal to core/session/: the same conventions as the
// reader in core/user_signal.cc (null counts as absent, unknown fields are
// errors, messages are identical), kept here so that file stays untouched.
// When a third resource needs it, hoist it into core/.

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/field_error.h"
#include "core/json_pointer.h"
#include "core/user_signal.h"

namespace usp::session_internal {

class SpecReader {
 public:
  // `path` is the field path of `object` ("spec.window"); "" for the document.
  SpecReader(const nlohmann::json& object, std::string path, FieldErrors* errors)
      : object_(object), path_(std::move(path)), errors_(errors) {}

  std::string Path(std::string_view key) const;
  void Error(std::string_view key, std::string message);

  // The value of `key`, or nullptr when absent or null. Marks the key as read.
  const nlohmann::json* Get(const char* key);
  const nlohmann::json* Required(const char* key);
  std::optional<std::string> String(const char* key, bool required = false);
  // An integer in [min, max].
  std::optional<int32_t> Int32(const char* key, int32_t min,
                               int32_t max = std::numeric_limits<int32_t>::max());
  // A duration in (0, max_ms], or [0, max_ms] when allow_zero.
  std::optional<int64_t> Duration(const char* key, int64_t max_ms, bool allow_zero = false);
  std::optional<JsonPointer> Pointer(const char* key, bool required = false);
  std::optional<std::string> Topic(const char* key, bool required = false);
  const nlohmann::json* Object(const char* key, bool required = false);
  const nlohmann::json* List(const char* key, bool required = false);

  // Every key not read through this reader is an error (strict validation).
  void RejectUnknown();

 private:
  const nlohmann::json& object_;
  std::string path_;
  FieldErrors* errors_;
  std::set<std::string, std::less<>> seen_;
};

bool IsValidTopicName(std::string_view name);
// Kubernetes DNS-1123 subdomain: what metadata.name (and a resource reference) accepts.
bool IsDns1123Subdomain(std::string_view name);

// metadata.{name, namespace, generation, labels}; the name must also fit in
// `max_name_length` (it becomes part of Kafka topic names).
void ParseMetadata(const nlohmann::json& metadata, size_t max_name_length, ObjectMeta* meta,
                   FieldErrors* errors);
nlohmann::json MetadataToJson(const ObjectMeta& meta);

// spec.failover (probeInterval, failureThreshold).
void ParseFailover(const nlohmann::json& failover, FailoverSpec* spec, FieldErrors* errors);
nlohmann::json FailoverToJson(const FailoverSpec& spec);

}  // namespace usp::session_internal
