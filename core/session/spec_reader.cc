#include "core/session/spec_reader.h"

#include <algorithm>
#include <limits>

#include "core/duration.h"

namespace usp::session_internal {

using nlohmann::json;

std::string SpecReader::Path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void SpecReader::Error(std::string_view key, std::string message) {
  errors_->push_back({Path(key), std::move(message)});
}

const json* SpecReader::Get(const char* key) {
  seen_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

const json* SpecReader::Required(const char* key) {
  const json* v = Get(key);
  if (v == nullptr) Error(key, "required");
  return v;
}

std::optional<std::string> SpecReader::String(const char* key, bool required) {
  const json* v = required ? Required(key) : Get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    Error(key, "must be a string");
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<int32_t> SpecReader::Int32(const char* key, int32_t min, int32_t max) {
  const json* v = Get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) {
    Error(key, "must be an integer");
    return std::nullopt;
  }
  if (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(max)
                              : v->get<int64_t>() > max) {
    Error(key, "must be at most " + std::to_string(max));
    return std::nullopt;
  }
  const int64_t value =
      v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
  if (value < min) {
    Error(key, "must be >= " + std::to_string(min));
    return std::nullopt;
  }
  return static_cast<int32_t>(value);
}

std::optional<int64_t> SpecReader::Duration(const char* key, int64_t max_ms, bool allow_zero) {
  std::optional<std::string> text = String(key);
  if (!text) return std::nullopt;
  Result<int64_t> ms = ParseDurationMs(*text);
  if (!ms.ok()) {
    Error(key, "invalid duration \"" + *text + "\": " + ms.status().message());
    return std::nullopt;
  }
  if (*ms <= 0 && !allow_zero) {
    Error(key, "must be greater than 0");
    return std::nullopt;
  }
  if (*ms > max_ms) {
    Error(key, "must be at most " + FormatDurationMs(max_ms));
    return std::nullopt;
  }
  return *ms;
}

std::optional<JsonPointer> SpecReader::Pointer(const char* key, bool required) {
  std::optional<std::string> text = String(key, required);
  if (!text) return std::nullopt;
  Result<JsonPointer> pointer = JsonPointer::Parse(*text);
  if (!pointer.ok()) {
    Error(key, "invalid JSON pointer \"" + *text + "\": " + pointer.status().message());
    return std::nullopt;
  }
  return std::move(pointer.value());
}

std::optional<std::string> SpecReader::Topic(const char* key, bool required) {
  std::optional<std::string> topic = String(key, required);
  if (!topic) return std::nullopt;
  if (!IsValidTopicName(*topic)) {
    Error(key, "invalid Kafka topic name \"" + *topic +
                   "\": use letters, digits, '.', '_' and '-', at most 249 characters");
    return std::nullopt;
  }
  return topic;
}

const json* SpecReader::Object(const char* key, bool required) {
  const json* v = required ? Required(key) : Get(key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    Error(key, "must be an object");
    return nullptr;
  }
  return v;
}

const json* SpecReader::List(const char* key, bool required) {
  const json* v = required ? Required(key) : Get(key);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    Error(key, "must be a list");
    return nullptr;
  }
  return v;
}

void SpecReader::RejectUnknown() {
  for (const auto& [key, unused] : object_.items()) {
    if (seen_.count(key) == 0) Error(key, "unknown field");
  }
}

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (alnum(c) || c == '-') continue;
    if (c == '.' && i > 0 && alnum(name[i - 1]) && alnum(name[i + 1])) continue;
    return false;
  }
  return true;
}

void ParseMetadata(const json& metadata, size_t max_name_length, ObjectMeta* meta,
                   FieldErrors* errors) {
  SpecReader r(metadata, "metadata", errors);
  if (std::optional<std::string> name = r.String("name", true)) {
    if (!IsDns1123Subdomain(*name)) {
      r.Error("name", "invalid name \"" + *name +
                          "\": must consist of lowercase letters, digits, '-' and '.', and start "
                          "and end with a letter or digit");
    } else if (name->size() > max_name_length) {
      r.Error("name", "must be at most " + std::to_string(max_name_length) +
                          " characters (it becomes part of Kafka topic names)");
    }
    meta->name = *name;
  }
  if (std::optional<std::string> ns = r.String("namespace")) {
    if (ns->empty()) {
      r.Error("namespace", "must not be empty");
    } else {
      meta->namespace_ = *ns;
    }
  }
  if (const json* generation = r.Get("generation")) {
    if (!generation->is_number_integer() || generation->get<int64_t>() < 0) {
      r.Error("generation", "must be a non-negative integer");
    } else {
      meta->generation = generation->get<int64_t>();
    }
  }
  if (const json* labels = r.Object("labels")) {
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) {
        errors->push_back({"metadata.labels." + key, "must be a string"});
      } else {
        meta->labels[key] = value.get<std::string>();
      }
    }
  }
  // Other metadata (uid, resourceVersion, annotations, ...) belongs to the API
  // server and is accepted as is.
}

json MetadataToJson(const ObjectMeta& meta) {
  json out = {{"name", meta.name}, {"namespace", meta.namespace_}};
  if (meta.generation != 0) out["generation"] = meta.generation;
  if (!meta.labels.empty()) out["labels"] = meta.labels;
  return out;
}

void ParseFailover(const json& failover, FailoverSpec* spec, FieldErrors* errors) {
  SpecReader f(failover, "spec.failover", errors);
  if (auto interval = f.Duration("probeInterval", std::numeric_limits<int64_t>::max())) {
    spec->probe_interval_ms = *interval;
  }
  if (auto threshold = f.Int32("failureThreshold", 1)) spec->failure_threshold = *threshold;
  f.RejectUnknown();
}

json FailoverToJson(const FailoverSpec& spec) {
  return {{"probeInterval", FormatDurationMs(spec.probe_interval_ms)},
          {"failureThreshold", spec.failure_threshold}};
}

}  // namespace usp::session_internal
