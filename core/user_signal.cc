#include "core/user_signal.h"

#include <algorithm>
#include <limits>
#include <set>
#include <string_view>

#include "core/duration.h"

namespace usp {
namespace {

using nlohmann::json;

constexpr const char* kKind = "UserSignal";
constexpr size_t kMaxTopicLength = 249;  // Kafka's limit
// "usp.signal.<name>" must stay a valid topic name.
constexpr size_t kMaxNameLength = kMaxTopicLength - 11;

// Reads the fields of one JSON object of the resource and records problems
// against their paths. A field set to null counts as absent, as in kubectl.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, FieldErrors* errors)
      : object_(object), path_(std::move(path)), errors_(errors) {}

  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  void Error(std::string_view key, std::string message) {
    errors_->push_back({Path(key), std::move(message)});
  }

  const json* Get(const char* key) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* Required(const char* key) {
    const json* v = Get(key);
    if (v == nullptr) Error(key, "required");
    return v;
  }

  std::optional<std::string> String(const char* key, bool required = false) {
    const json* v = required ? Required(key) : Get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Error(key, "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  // An integer in [min, int32 max].
  std::optional<int32_t> Int32(const char* key, int32_t min) {
    const json* v = Get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) {
      Error(key, "must be an integer");
      return std::nullopt;
    }
    if (v->is_number_unsigned() ? v->get<uint64_t>() > std::numeric_limits<int32_t>::max()
                                : v->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      Error(key, "must be at most " + std::to_string(std::numeric_limits<int32_t>::max()));
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

  // A positive duration.
  std::optional<int64_t> Duration(const char* key) {
    std::optional<std::string> text = String(key);
    if (!text) return std::nullopt;
    Result<int64_t> ms = ParseDurationMs(*text);
    if (!ms.ok()) {
      Error(key, "invalid duration \"" + *text + "\": " + ms.status().message());
      return std::nullopt;
    }
    if (*ms <= 0) {
      Error(key, "must be greater than 0");
      return std::nullopt;
    }
    return *ms;
  }

  std::optional<JsonPointer> Pointer(const char* key, bool required = false) {
    std::optional<std::string> text = String(key, required);
    if (!text) return std::nullopt;
    Result<JsonPointer> pointer = JsonPointer::Parse(*text);
    if (!pointer.ok()) {
      Error(key, "invalid JSON pointer \"" + *text + "\": " + pointer.status().message());
      return std::nullopt;
    }
    return std::move(pointer.value());
  }

  std::optional<std::string> Topic(const char* key, bool required = false);

  const json* Object(const char* key, bool required = false) {
    const json* v = required ? Required(key) : Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      Error(key, "must be an object");
      return nullptr;
    }
    return v;
  }

  const json* List(const char* key) {
    const json* v = Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      Error(key, "must be a list");
      return nullptr;
    }
    return v;
  }

  // Every key not read through this reader is an error (strict validation).
  void RejectUnknown() {
    for (const auto& [key, unused] : object_.items()) {
      if (seen_.count(key) == 0) Error(key, "unknown field");
    }
  }

 private:
  const json& object_;
  std::string path_;
  FieldErrors* errors_;
  std::set<std::string, std::less<>> seen_;
};

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicLength || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::optional<std::string> ObjectReader::Topic(const char* key, bool required) {
  std::optional<std::string> topic = String(key, required);
  if (!topic) return std::nullopt;
  if (!IsValidTopicName(*topic)) {
    Error(key, "invalid Kafka topic name \"" + *topic +
                   "\": use letters, digits, '.', '_' and '-', at most 249 characters");
    return std::nullopt;
  }
  return topic;
}

// Kubernetes DNS-1123 subdomain: what metadata.name accepts.
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

void ParseMetadata(const json& metadata, ObjectMeta* meta, FieldErrors* errors) {
  ObjectReader r(metadata, "metadata", errors);
  if (std::optional<std::string> name = r.String("name", true)) {
    if (!IsDns1123Subdomain(*name)) {
      r.Error("name", "invalid name \"" + *name +
                          "\": must consist of lowercase letters, digits, '-' and '.', and start "
                          "and end with a letter or digit");
    } else if (name->size() > kMaxNameLength) {
      r.Error("name", "must be at most " + std::to_string(kMaxNameLength) +
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

std::optional<JoinSource> ParseJoinSource(const json& value, const std::string& path,
                                          FieldErrors* errors) {
  if (!value.is_object()) {
    errors->push_back({path, "must be an object"});
    return std::nullopt;
  }
  const size_t before = errors->size();
  ObjectReader r(value, path, errors);
  JoinSource source;
  if (auto topic = r.Topic("kafkaTopic", true)) source.kafka_topic = *topic;
  if (auto key = r.Pointer("joinKeyField", true)) source.join_key_field = *key;
  r.RejectUnknown();
  if (errors->size() != before) return std::nullopt;
  return source;
}

bool IsLookupName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// True when `a` is `b` or one of its ancestors (token-wise).
bool IsPrefixOf(const JsonPointer& a, const JsonPointer& b) {
  if (a.tokens().size() > b.tokens().size()) return false;
  return std::equal(a.tokens().begin(), a.tokens().end(), b.tokens().begin());
}

void ParseLookups(const json& lookups, UserSignalSpec* spec, FieldErrors* errors) {
  std::set<std::string> names;
  for (size_t i = 0; i < lookups.size(); ++i) {
    const std::string path = "spec.lookups[" + std::to_string(i) + "]";
    const json& item = lookups[i];
    if (!item.is_object()) {
      errors->push_back({path, "must be an object"});
      continue;
    }
    const size_t before = errors->size();
    ObjectReader r(item, path, errors);
    LookupSpec lookup;
    if (auto name = r.String("name", true)) {
      if (!IsLookupName(*name)) {
        r.Error("name", "invalid lookup name \"" + *name +
                            "\": use 1..63 letters, digits, '_' and '-'");
      } else if (!names.insert(*name).second) {
        r.Error("name", "duplicate lookup name \"" + *name + "\"");
      }
      lookup.name = *name;
    }
    if (auto topic = r.Topic("kafkaTopic", true)) lookup.kafka_topic = *topic;
    if (auto key = r.Pointer("keyField", true)) lookup.key_field = *key;
    if (auto into = r.Pointer("into")) {
      if (into->is_root()) {
        r.Error("into", "must not be the whole event (\"\")");
      } else {
        lookup.into = *into;
      }
    } else if (IsLookupName(lookup.name)) {
      lookup.into = *JsonPointer::Parse("/lookups/" + lookup.name);
    }
    r.RejectUnknown();
    if (errors->size() != before) continue;
    for (const LookupSpec& other : spec->lookups) {
      if (IsPrefixOf(other.into, lookup.into) || IsPrefixOf(lookup.into, other.into)) {
        r.Error("into", "\"" + lookup.into.text() + "\" overlaps \"" + other.into.text() +
                            "\" of lookup \"" + other.name + "\"");
        break;
      }
    }
    if (errors->size() != before) continue;
    spec->lookups.push_back(std::move(lookup));
  }
}

void ParseSpec(const json& spec_json, const std::string& name, UserSignalSpec* spec,
               FieldErrors* errors) {
  ObjectReader r(spec_json, "spec", errors);

  bool type_known = true;
  if (std::optional<std::string> type = r.String("type")) {
    if (*type == "simple") {
      spec->type = SignalType::kSimple;
    } else if (*type == "left_join") {
      spec->type = SignalType::kLeftJoin;
    } else {
      r.Error("type", "must be one of simple, left_join");
      type_known = false;
    }
  }

  const json* sources = r.List("eventSources");
  if (sources != nullptr) {
    for (size_t i = 0; i < sources->size(); ++i) {
      const std::string path = "spec.eventSources[" + std::to_string(i) + "]";
      const json& item = (*sources)[i];
      if (!item.is_object()) {
        errors->push_back({path, "must be an object"});
        continue;
      }
      ObjectReader source_reader(item, path, errors);
      EventSource source;
      if (auto topic = source_reader.Topic("kafkaTopic", true)) source.kafka_topic = *topic;
      if (const json* filter = source_reader.Get("filter")) {
        source.filter = Predicate::Compile(*filter, path + ".filter", errors);
      }
      source_reader.RejectUnknown();
      spec->event_sources.push_back(std::move(source));
    }
  }
  const json* left = r.Get("leftEventSource");
  const json* right = r.Get("rightEventSource");
  if (left != nullptr) {
    spec->left_event_source = ParseJoinSource(*left, "spec.leftEventSource", errors);
  }
  if (right != nullptr) {
    spec->right_event_source = ParseJoinSource(*right, "spec.rightEventSource", errors);
  }
  if (type_known && spec->type == SignalType::kSimple) {
    if (sources == nullptr && r.Get("eventSources") == nullptr) {
      r.Error("eventSources", "required");
    } else if (sources != nullptr && sources->empty()) {
      r.Error("eventSources", "must not be empty");
    }
    if (left != nullptr) r.Error("leftEventSource", "only allowed when type is left_join");
    if (right != nullptr) r.Error("rightEventSource", "only allowed when type is left_join");
  } else if (type_known && spec->type == SignalType::kLeftJoin) {
    if (left == nullptr) r.Error("leftEventSource", "required");
    if (right == nullptr) r.Error("rightEventSource", "required");
    if (sources != nullptr && !sources->empty()) {
      r.Error("eventSources",
              "only allowed when type is simple (left_join uses leftEventSource and "
              "rightEventSource)");
    }
  }

  if (auto window = r.Duration("joinWindow")) spec->join_window_ms = *window;
  auto user_id = r.Pointer("userIdField");
  spec->user_id_field = user_id ? *user_id : *JsonPointer::Parse("/user_id");
  auto event_time = r.Pointer("eventTimeField");
  spec->event_time_field = event_time ? *event_time : *JsonPointer::Parse("/event_time");
  spec->event_id_field = r.Pointer("eventIdField");

  if (const json* filter = r.Get("filter")) {
    spec->filter = Predicate::Compile(*filter, "spec.filter", errors);
  }

  if (const json* attributes = r.Object("attributes")) {
    for (const auto& [key, value] : attributes->items()) {
      const std::string path = "spec.attributes." + key;
      if (key.empty()) {
        errors->push_back({"spec.attributes", "attribute names must not be empty"});
        continue;
      }
      if (!value.is_string()) {
        errors->push_back({path, "must be a string (a JSON pointer)"});
        continue;
      }
      Result<JsonPointer> pointer = JsonPointer::Parse(value.get<std::string>());
      if (!pointer.ok()) {
        errors->push_back({path, "invalid JSON pointer \"" + value.get<std::string>() +
                                     "\": " + pointer.status().message()});
        continue;
      }
      spec->attributes[key] = std::move(pointer.value());
    }
  }

  if (const json* lookups = r.List("lookups")) {
    ParseLookups(*lookups, spec, errors);
    if (type_known && spec->type != SignalType::kSimple && !lookups->empty()) {
      r.Error("lookups", "only allowed when type is simple");
    }
  }

  if (auto transform = r.String("transform")) {
    if (transform->empty()) {
      r.Error("transform", "must not be empty");
    } else {
      spec->transform = *transform;
    }
  }

  if (auto on_error = r.String("onError")) {
    if (*on_error == "fail") {
      spec->on_error = OnError::kFail;
    } else if (*on_error == "skip") {
      spec->on_error = OnError::kSkip;
    } else if (*on_error == "deadLetter") {
      spec->on_error = OnError::kDeadLetter;
    } else {
      r.Error("onError", "must be one of fail, skip, deadLetter");
    }
  }
  auto dead_letter = r.Topic("deadLetterTopic");
  spec->dead_letter_topic = dead_letter ? *dead_letter : "usp.dlq." + name;
  if (auto retention = r.Duration("retention")) spec->retention_ms = *retention;
  auto output = r.Topic("outputTopic");
  spec->output_topic = output ? *output : "usp.signal." + name;
  if (auto parallelism = r.Int32("parallelism", 1)) spec->parallelism = *parallelism;
  if (auto standby = r.Int32("standbyReplicas", 0)) spec->standby_replicas = *standby;

  if (const json* failover = r.Object("failover")) {
    ObjectReader f(*failover, "spec.failover", errors);
    if (auto interval = f.Duration("probeInterval")) spec->failover.probe_interval_ms = *interval;
    if (auto threshold = f.Int32("failureThreshold", 1)) {
      spec->failover.failure_threshold = *threshold;
    }
    f.RejectUnknown();
  }

  r.RejectUnknown();
}

json JoinSourceToJson(const JoinSource& source) {
  return {{"kafkaTopic", source.kafka_topic}, {"joinKeyField", source.join_key_field.text()}};
}

}  // namespace

const char* ToString(SignalType t) {
  switch (t) {
    case SignalType::kSimple:
      return "simple";
    case SignalType::kLeftJoin:
      return "left_join";
  }
  return "simple";
}

const char* ToString(OnError e) {
  switch (e) {
    case OnError::kFail:
      return "fail";
    case OnError::kSkip:
      return "skip";
    case OnError::kDeadLetter:
      return "deadLetter";
  }
  return "deadLetter";
}

std::vector<std::string> UserSignal::SourceTopics() const {
  std::vector<std::string> topics;
  auto add = [&](const std::string& topic) {
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(topic);
  };
  for (const EventSource& source : spec.event_sources) add(source.kafka_topic);
  if (spec.left_event_source) add(spec.left_event_source->kafka_topic);
  if (spec.right_event_source) add(spec.right_event_source->kafka_topic);
  return topics;
}

std::vector<std::string> UserSignal::LookupTopics() const {
  std::vector<std::string> topics;
  for (const LookupSpec& lookup : spec.lookups) {
    if (std::find(topics.begin(), topics.end(), lookup.kafka_topic) == topics.end()) {
      topics.push_back(lookup.kafka_topic);
    }
  }
  return topics;
}

std::optional<UserSignal> ParseUserSignal(const nlohmann::json& doc, FieldErrors* errors) {
  const size_t before = errors->size();
  if (!doc.is_object()) {
    errors->push_back({"document", "must be an object"});
    return std::nullopt;
  }
  ObjectReader r(doc, "", errors);
  if (auto api_version = r.String("apiVersion", true); api_version && *api_version != kApiVersion) {
    r.Error("apiVersion", std::string("must be ") + kApiVersion + ", got \"" + *api_version + "\"");
  }
  if (auto kind = r.String("kind", true); kind && *kind != kKind) {
    r.Error("kind", std::string("must be ") + kKind + ", got \"" + *kind + "\"");
  }
  UserSignal signal;
  if (const json* metadata = r.Object("metadata", true)) {
    ParseMetadata(*metadata, &signal.metadata, errors);
  }
  if (const json* spec = r.Object("spec", true)) {
    ParseSpec(*spec, signal.metadata.name, &signal.spec, errors);
  }
  r.Get("status");  // written by the operator; not part of the desired state
  r.RejectUnknown();
  if (errors->size() != before) return std::nullopt;
  return signal;
}

nlohmann::json ToJson(const UserSignal& signal) {
  const UserSignalSpec& s = signal.spec;
  json metadata = {{"name", signal.metadata.name}, {"namespace", signal.metadata.namespace_}};
  if (signal.metadata.generation != 0) metadata["generation"] = signal.metadata.generation;
  if (!signal.metadata.labels.empty()) metadata["labels"] = signal.metadata.labels;

  json spec = json::object();
  spec["type"] = ToString(s.type);
  json sources = json::array();
  for (const EventSource& source : s.event_sources) {
    json item = {{"kafkaTopic", source.kafka_topic}};
    if (source.filter) item["filter"] = source.filter->ToJson();
    sources.push_back(std::move(item));
  }
  spec["eventSources"] = std::move(sources);
  if (s.left_event_source) spec["leftEventSource"] = JoinSourceToJson(*s.left_event_source);
  if (s.right_event_source) spec["rightEventSource"] = JoinSourceToJson(*s.right_event_source);
  spec["joinWindow"] = FormatDurationMs(s.join_window_ms);
  spec["userIdField"] = s.user_id_field.text();
  spec["eventTimeField"] = s.event_time_field.text();
  if (s.event_id_field) spec["eventIdField"] = s.event_id_field->text();
  if (s.filter) spec["filter"] = s.filter->ToJson();
  json attributes = json::object();
  for (const auto& [name, pointer] : s.attributes) attributes[name] = pointer.text();
  spec["attributes"] = std::move(attributes);
  if (!s.lookups.empty()) {
    json lookups = json::array();
    for (const LookupSpec& l : s.lookups) {
      lookups.push_back({{"name", l.name},
                         {"kafkaTopic", l.kafka_topic},
                         {"keyField", l.key_field.text()},
                         {"into", l.into.text()}});
    }
    spec["lookups"] = std::move(lookups);
  }
  if (!s.transform.empty()) spec["transform"] = s.transform;
  spec["onError"] = ToString(s.on_error);
  spec["deadLetterTopic"] = s.dead_letter_topic;
  spec["retention"] = FormatDurationMs(s.retention_ms);
  spec["outputTopic"] = s.output_topic;
  spec["parallelism"] = s.parallelism;
  spec["standbyReplicas"] = s.standby_replicas;
  spec["failover"] = {{"probeInterval", FormatDurationMs(s.failover.probe_interval_ms)},
                      {"failureThreshold", s.failover.failure_threshold}};

  return {{"apiVersion", kApiVersion},
          {"kind", kKind},
          {"metadata", std::move(metadata)},
          {"spec", std::move(spec)}};
}

bool operator==(const UserSignal& a, const UserSignal& b) { return ToJson(a) == ToJson(b); }

}  // namespace usp
