#include "core/segment/user_segment.h"

#include <algorithm>
#include <limits>
#include <set>
#include <string_view>

#include "core/duration.h"

namespace usp {
namespace {

using nlohmann::json;

constexpr size_t kMaxTopicLength = 249;  // Kafka's limit
// The CRD's rule: the name names the worker Deployment and labels its pods.
constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxTriggerSignals = 64;  // the CRD's maxItems
constexpr size_t kMaxTransformLength = 253;

// Reads the fields of one JSON object of the resource and records problems
// against their paths. A field set to null counts as absent, as in kubectl.
// The same conventions as the reader behind ParseUserSignal (which keeps its
// copy private to user_signal.cc).
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

  std::optional<std::string> Topic(const char* key);

  const json* Object(const char* key, bool required = false) {
    const json* v = required ? Required(key) : Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      Error(key, "must be an object");
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

std::optional<std::string> ObjectReader::Topic(const char* key) {
  std::optional<std::string> topic = String(key);
  if (!topic) return std::nullopt;
  if (!IsValidTopicName(*topic)) {
    Error(key, "invalid Kafka topic name \"" + *topic +
                   "\": use letters, digits, '.', '_' and '-', at most 249 characters");
    return std::nullopt;
  }
  return topic;
}

// Kubernetes DNS-1123 subdomain: what metadata.name (of the segment and of
// the signals it names) accepts.
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

const char* kNameRule =
    "must consist of lowercase letters, digits, '-' and '.', and start and end with a letter or "
    "digit";

void ParseMetadata(const json& metadata, ObjectMeta* meta, FieldErrors* errors) {
  ObjectReader r(metadata, "metadata", errors);
  if (std::optional<std::string> name = r.String("name", true)) {
    if (!IsDns1123Subdomain(*name)) {
      r.Error("name", "invalid name \"" + *name + "\": " + kNameRule);
    } else if (name->size() > kMaxNameLength) {
      r.Error("name", "must be at most " + std::to_string(kMaxNameLength) +
                          " characters: it names the worker Deployment and labels its pods");
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

// `spec.enter` or `spec.exit`. Returns nullopt (with errors) when invalid.
std::optional<SegmentTrigger> ParseTrigger(const json& value, const std::string& path,
                                           FieldErrors* errors) {
  const size_t before = errors->size();
  ObjectReader r(value, path, errors);
  SegmentTrigger trigger;
  if (const json* signals = r.Required("signals")) {
    if (!signals->is_array()) {
      r.Error("signals", "must be a list");
    } else if (signals->empty()) {
      r.Error("signals", "must not be empty");
    } else if (signals->size() > kMaxTriggerSignals) {
      r.Error("signals", "must have at most " + std::to_string(kMaxTriggerSignals) + " items");
    } else {
      for (size_t i = 0; i < signals->size(); ++i) {
        const std::string item_path = path + ".signals[" + std::to_string(i) + "]";
        const json& item = (*signals)[i];
        if (!item.is_string()) {
          errors->push_back({item_path, "must be a string (a UserSignal name)"});
          continue;
        }
        const std::string name = item.get<std::string>();
        if (!IsDns1123Subdomain(name)) {
          errors->push_back({item_path, "invalid UserSignal name \"" + name + "\": " + kNameRule});
        } else if (std::find(trigger.signals.begin(), trigger.signals.end(), name) !=
                   trigger.signals.end()) {
          errors->push_back({item_path, "duplicate signal \"" + name + "\""});
        } else {
          trigger.signals.push_back(name);
        }
      }
    }
  }
  if (const json* filter = r.Get("filter")) {
    trigger.filter = Predicate::Compile(*filter, path + ".filter", errors);
  }
  r.RejectUnknown();
  if (errors->size() != before) return std::nullopt;
  return trigger;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void ParseSpec(const json& spec_json, const std::string& name, UserSegmentSpec* spec,
               FieldErrors* errors) {
  ObjectReader r(spec_json, "spec", errors);

  if (const json* enter = r.Object("enter", true)) {
    if (auto trigger = ParseTrigger(*enter, "spec.enter", errors)) spec->enter = *trigger;
  }
  if (const json* exit = r.Object("exit")) {
    spec->exit = ParseTrigger(*exit, "spec.exit", errors);
  }
  // A signal in both lists is fine when a filter tells enter from exit; when
  // neither has one, exit (which wins ties) would swallow every enter.
  if (spec->exit && !spec->enter.filter && !spec->exit->filter) {
    for (size_t i = 0; i < spec->exit->signals.size(); ++i) {
      const std::string& signal = spec->exit->signals[i];
      if (Contains(spec->enter.signals, signal)) {
        errors->push_back({"spec.exit.signals[" + std::to_string(i) + "]",
                           "\"" + signal +
                               "\" is also an enter signal: without an enter or exit filter "
                               "every record of it would exit"});
      }
    }
  }

  spec->expire_after_ms = r.Duration("expireAfter");

  if (auto transform = r.String("transform")) {
    if (transform->empty()) {
      r.Error("transform", "must not be empty");
    } else if (transform->size() > kMaxTransformLength) {
      r.Error("transform",
              "must be at most " + std::to_string(kMaxTransformLength) + " characters");
    } else {
      spec->transform = *transform;
    }
  }
  auto output = r.Topic("outputTopic");
  spec->output_topic = output ? *output : "usp.segment." + name;
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

json TriggerToJson(const SegmentTrigger& trigger) {
  json out = {{"signals", trigger.signals}};
  if (trigger.filter) out["filter"] = trigger.filter->ToJson();
  return out;
}

}  // namespace

std::vector<std::string> UserSegment::TriggerSignals() const {
  std::vector<std::string> signals = spec.enter.signals;
  if (spec.exit) {
    for (const std::string& signal : spec.exit->signals) {
      if (!Contains(signals, signal)) signals.push_back(signal);
    }
  }
  return signals;
}

std::optional<UserSegment> ParseUserSegment(const nlohmann::json& doc, FieldErrors* errors) {
  const size_t before = errors->size();
  if (!doc.is_object()) {
    errors->push_back({"document", "must be an object"});
    return std::nullopt;
  }
  ObjectReader r(doc, "", errors);
  if (auto api_version = r.String("apiVersion", true); api_version && *api_version != kApiVersion) {
    r.Error("apiVersion", std::string("must be ") + kApiVersion + ", got \"" + *api_version + "\"");
  }
  if (auto kind = r.String("kind", true); kind && *kind != kUserSegmentKind) {
    r.Error("kind", std::string("must be ") + kUserSegmentKind + ", got \"" + *kind + "\"");
  }
  UserSegment segment;
  if (const json* metadata = r.Object("metadata", true)) {
    ParseMetadata(*metadata, &segment.metadata, errors);
  }
  if (const json* spec = r.Object("spec", true)) {
    ParseSpec(*spec, segment.metadata.name, &segment.spec, errors);
  }
  r.Get("status");  // written by the operator; not part of the desired state
  r.RejectUnknown();
  if (errors->size() != before) return std::nullopt;
  return segment;
}

nlohmann::json ToJson(const UserSegment& segment) {
  const UserSegmentSpec& s = segment.spec;
  json metadata = {{"name", segment.metadata.name}, {"namespace", segment.metadata.namespace_}};
  if (segment.metadata.generation != 0) metadata["generation"] = segment.metadata.generation;
  if (!segment.metadata.labels.empty()) metadata["labels"] = segment.metadata.labels;

  json spec = json::object();
  spec["enter"] = TriggerToJson(s.enter);
  if (s.exit) spec["exit"] = TriggerToJson(*s.exit);
  if (s.expire_after_ms) spec["expireAfter"] = FormatDurationMs(*s.expire_after_ms);
  if (!s.transform.empty()) spec["transform"] = s.transform;
  spec["outputTopic"] = s.output_topic;
  spec["parallelism"] = s.parallelism;
  spec["standbyReplicas"] = s.standby_replicas;
  spec["failover"] = {{"probeInterval", FormatDurationMs(s.failover.probe_interval_ms)},
                      {"failureThreshold", s.failover.failure_threshold}};

  return {{"apiVersion", kApiVersion},
          {"kind", kUserSegmentKind},
          {"metadata", std::move(metadata)},
          {"spec", std::move(spec)}};
}

bool operator==(const UserSegment& a, const UserSegment& b) { return ToJson(a) == ToJson(b); }

}  // namespace usp
