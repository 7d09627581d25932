#include "core/signal_transform.h"

#include <algorithm>
#include <charconv>
#include <exception>
#include <iterator>

#include "core/event_time.h"
#include "core/plugin/signal_transform_registry.h"
#include "core/plugin/usp_plugin.h"

namespace usp {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

TransformOutcome Fail(TransformError* error, const char* reason, std::string message) {
  error->reason = reason;
  error->message = std::move(message);
  return TransformOutcome::kFailed;
}

// Writes a string or integer identifier into *out. False for other types.
bool AssignIdentifier(element value, std::string* out) {
  switch (value.type()) {
    case element_type::STRING: {
      std::string_view s;
      s = value.get_string().value_unsafe();
      out->assign(s);
      return true;
    }
    case element_type::INT64: {
      int64_t v = 0;
      v = value.get_int64().value_unsafe();
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v);
      out->assign(buf, r.ptr);
      return true;
    }
    case element_type::UINT64: {
      uint64_t v = 0;
      v = value.get_uint64().value_unsafe();
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v);
      out->assign(buf, r.ptr);
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

Result<std::unique_ptr<SignalTransform>> SignalTransform::Create(const UserSignal& signal) {
  return Create(signal, SignalTransformRegistry::Global());
}

Result<std::unique_ptr<SignalTransform>> SignalTransform::Create(
    const UserSignal& signal, const SignalTransformRegistry& registry) {
  if (signal.spec.type != SignalType::kSimple) {
    return Status::InvalidArgument("SignalTransform handles type simple only, got " +
                                   std::string(ToString(signal.spec.type)));
  }
  if (signal.spec.event_sources.empty()) {
    return Status::InvalidArgument("UserSignal " + signal.metadata.name + " has no event sources");
  }
  std::unique_ptr<SignalTransformPlugin> plugin;
  if (!signal.spec.transform.empty()) {
    if (!registry.Contains(signal.spec.transform)) {
      return Status::InvalidArgument(
          "spec.transform: no signal transform plug-in named \"" + signal.spec.transform +
          "\" (registered: " + JoinPluginNames(registry.Names()) +
          "); load the library that provides it with --plugin PATH or USP_PLUGIN_PATH");
    }
    Result<std::unique_ptr<SignalTransformPlugin>> created =
        registry.Create(signal.spec.transform, signal);
    if (!created.ok()) {
      return Status::InvalidArgument("spec.transform: plug-in \"" + signal.spec.transform +
                                     "\" refused UserSignal " + signal.metadata.name + ": " +
                                     created.status().message());
    }
    plugin = std::move(created).value();
  }
  return std::unique_ptr<SignalTransform>(new SignalTransform(signal, std::move(plugin)));
}

SignalTransform::~SignalTransform() = default;

SignalTransform::SignalTransform(const UserSignal& signal,
                                 std::unique_ptr<SignalTransformPlugin> plugin)
    : signal_(signal), plugin_(std::move(plugin)) {
  for (const EventSource& source : signal_.spec.event_sources) {
    topics_.push_back(source.kafka_topic);
    source_filters_.push_back(source.filter);
  }
  // Validation guarantees `into` pointers are not the root and do not
  // overlap: each is a distinct leaf.
  for (size_t i = 0; i < signal_.spec.lookups.size(); ++i) {
    InsertNode* node = &insert_root_;
    for (const std::string& token : signal_.spec.lookups[i].into.tokens()) {
      auto it = std::find_if(node->children.begin(), node->children.end(),
                             [&](const InsertNode& c) { return c.key == token; });
      if (it == node->children.end()) {
        node->children.emplace_back();
        node->children.back().key = token;
        it = std::prev(node->children.end());
      }
      node = &*it;
    }
    node->lookup = static_cast<int>(i);
  }
  lookup_values_.resize(signal_.spec.lookups.size());
}

void SignalTransform::WriteNew(const InsertNode& node, std::string* out) const {
  if (node.lookup >= 0) {
    out->append(lookup_values_[static_cast<size_t>(node.lookup)]);
    return;
  }
  out->push_back('{');
  bool first = true;
  for (const InsertNode& child : node.children) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(child.key, out);
    out->push_back(':');
    WriteNew(child, out);
  }
  out->push_back('}');
}

void SignalTransform::WriteEnriched(element value, const InsertNode& node,
                                    std::string* out) const {
  if (node.lookup >= 0 || value.type() != element_type::OBJECT) {
    WriteNew(node, out);
    return;
  }
  out->push_back('{');
  bool first = true;
  std::vector<bool> written(node.children.size(), false);
  simdjson::dom::object object;
  object = value.get_object().value_unsafe();
  for (auto field : object) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(field.key, out);
    out->push_back(':');
    size_t i = 0;
    while (i < node.children.size() && node.children[i].key != field.key) ++i;
    if (i < node.children.size()) {
      WriteEnriched(field.value, node.children[i], out);
      written[i] = true;
    } else {
      AppendElementJson(field.value, out);
    }
  }
  for (size_t i = 0; i < node.children.size(); ++i) {
    if (written[i]) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(node.children[i].key, out);
    out->push_back(':');
    WriteNew(node.children[i], out);
  }
  out->push_back('}');
}

bool SignalTransform::Enrich(element* doc, TransformError* error) {
  const std::vector<LookupSpec>& lookups = signal_.spec.lookups;
  for (size_t i = 0; i < lookups.size(); ++i) {
    std::string& value = lookup_values_[i];
    value.clear();
    std::optional<element> key = lookups[i].key_field.Resolve(*doc);
    if (lookups_ == nullptr || !key || !AssignIdentifier(*key, &lookup_key_) ||
        !lookups_->Lookup(i, lookup_key_, &value) || value.empty()) {
      value.assign("null");
    }
  }
  enriched_.clear();
  WriteEnriched(*doc, insert_root_, &enriched_);
  if (auto err = enrich_parser_.parse(enriched_.data(), enriched_.size(), true).get(*doc); err) {
    Fail(error, "lookup_failed",
         std::string("enriched event is not valid JSON (a lookup row is not JSON?): ") +
             simdjson::error_message(err));
    return false;
  }
  return true;
}

TransformOutcome SignalTransform::Apply(const SourceEvent& event, int64_t processing_time_ms,
                                        SignalRecord* record, TransformError* error) {
  const UserSignalSpec& spec = signal_.spec;

  // A topic may appear in several sources (a union): the event passes when any
  // of their filters accepts it.
  bool known_topic = false;
  for (const std::string& topic : topics_) known_topic = known_topic || topic == event.topic;
  if (!known_topic) {
    scratch_.assign("topic \"").append(event.topic).append("\" is not a source of this signal");
    return Fail(error, "unknown_topic", scratch_);
  }
  element doc;
  // realloc_if_needed copies the payload into the parser's padded buffer:
  // Kafka buffers carry no SIMDJSON_PADDING.
  if (auto err = parser_.parse(event.payload.data(), event.payload.size(), true).get(doc); err) {
    return Fail(error, "not_json",
                std::string("payload is not valid JSON: ") + simdjson::error_message(err));
  }
  if (doc.type() != element_type::OBJECT) {
    return Fail(error, "not_object", "payload must be a JSON object");
  }
  // Enrichment comes first: filters and attributes may address lookup rows.
  if (!spec.lookups.empty() && !Enrich(&doc, error)) return TransformOutcome::kFailed;
  bool source_match = false;
  for (size_t i = 0; i < topics_.size() && !source_match; ++i) {
    if (topics_[i] != event.topic) continue;
    source_match = source_filters_[i] == nullptr || source_filters_[i]->Evaluate(doc);
  }
  if (!source_match) return TransformOutcome::kFiltered;
  if (spec.filter != nullptr && !spec.filter->Evaluate(doc)) return TransformOutcome::kFiltered;
  if (plugin_ != nullptr) {
    PluginEvent plugin_event{event.topic, event.partition, event.offset, event.payload, doc};
    bool valid = false;
    try {
      valid = plugin_->IsValidEvent(plugin_event);
    } catch (const std::exception& e) {
      return Fail(error, "transform_failed",
                  "plug-in \"" + spec.transform + "\" IsValidEvent threw: " + e.what());
    } catch (...) {
      return Fail(error, "transform_failed",
                  "plug-in \"" + spec.transform + "\" IsValidEvent threw");
    }
    if (!valid) return TransformOutcome::kFiltered;
  }

  // User id.
  std::optional<element> user_id = spec.user_id_field.Resolve(doc);
  if (!user_id || user_id->type() == element_type::NULL_VALUE) {
    return Fail(error, "missing_user_id", "no user id at " + spec.user_id_field.text());
  }
  if (!AssignIdentifier(*user_id, &record->user_id) || record->user_id.empty()) {
    return Fail(
        error, "bad_user_id",
        "user id at " + spec.user_id_field.text() + " must be a non-empty string or an integer");
  }

  // Event time.
  std::optional<element> event_time = spec.event_time_field.Resolve(doc);
  if (!event_time || event_time->type() == element_type::NULL_VALUE) {
    return Fail(error, "missing_event_time", "no event time at " + spec.event_time_field.text());
  }
  Result<int64_t> time_ms = ParseEventTime(*event_time);
  if (!time_ms.ok()) {
    return Fail(
        error, "bad_event_time",
        "event time at " + spec.event_time_field.text() + ": " + time_ms.status().message());
  }
  record->event_time = *time_ms;

  // Event id.
  if (spec.event_id_field) {
    std::optional<element> event_id = spec.event_id_field->Resolve(doc);
    if (!event_id || !AssignIdentifier(*event_id, &record->event_id) || record->event_id.empty()) {
      return Fail(error, "bad_event_id",
                  "event id at " + spec.event_id_field->text() +
                      " must be a non-empty string or an integer");
    }
  } else {
    char buf[48];
    record->event_id.assign(event.topic);
    record->event_id.push_back('-');
    auto r = std::to_chars(buf, buf + sizeof(buf), event.partition);
    record->event_id.append(buf, r.ptr);
    record->event_id.push_back('-');
    r = std::to_chars(buf, buf + sizeof(buf), event.offset);
    record->event_id.append(buf, r.ptr);
  }

  record->signal.assign(signal_.metadata.name);
  record->version = processing_time_ms;

  if (plugin_ != nullptr) {
    TransformOutcome outcome = RunPlugin(event, &doc, error);
    if (outcome != TransformOutcome::kEmitted) return outcome;
  }

  // Attributes.
  std::string& attributes = record->attributes_json;
  attributes.clear();
  if (spec.attributes.empty()) {
    AppendElementJson(doc, &attributes);
  } else {
    attributes.push_back('{');
    bool first = true;
    for (const auto& [name, pointer] : spec.attributes) {
      if (!first) attributes.push_back(',');
      first = false;
      AppendJsonString(name, &attributes);
      attributes.push_back(':');
      std::optional<element> value = pointer.Resolve(doc);
      if (value) {
        AppendElementJson(*value, &attributes);
      } else {
        attributes.append("null");
      }
    }
    attributes.push_back('}');
  }
  return TransformOutcome::kEmitted;
}

TransformOutcome SignalTransform::RunPlugin(const SourceEvent& event, element* doc,
                                            TransformError* error) {
  const std::string& name = signal_.spec.transform;
  PluginEvent plugin_event{event.topic, event.partition, event.offset, event.payload, *doc};
  plugin_out_.clear();
  scratch_.clear();
  PluginTransformResult result = PluginTransformResult::kFail;
  try {
    result = plugin_->Transform(plugin_event, &plugin_out_, &scratch_);
  } catch (const std::exception& e) {
    return Fail(error, "transform_failed", "plug-in \"" + name + "\" Transform threw: " + e.what());
  } catch (...) {
    return Fail(error, "transform_failed", "plug-in \"" + name + "\" Transform threw");
  }
  switch (result) {
    case PluginTransformResult::kKeep:
      return TransformOutcome::kEmitted;
    case PluginTransformResult::kReplace: {
      element reshaped;
      if (auto err =
              plugin_parser_.parse(plugin_out_.data(), plugin_out_.size(), true).get(reshaped);
          err) {
        return Fail(
            error, "transform_failed",
            "plug-in \"" + name + "\" returned invalid JSON: " + simdjson::error_message(err));
      }
      if (reshaped.type() != element_type::OBJECT) {
        return Fail(error, "transform_failed",
                    "plug-in \"" + name + "\" must return a JSON object");
      }
      *doc = reshaped;
      return TransformOutcome::kEmitted;
    }
    case PluginTransformResult::kFail:
      break;
  }
  return Fail(error, "transform_failed",
              "plug-in \"" + name + "\": " + (scratch_.empty() ? "event rejected" : scratch_));
}

}  // namespace usp
