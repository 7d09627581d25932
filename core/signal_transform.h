#pragma once
// The simple-signal transform: one source event -> zero or one signal record.
// Pure (no I/O): decode JSON, apply the source filter and the spec filter,
// run the `spec.transform` plug-in's IsValidEvent, extract user id, event
// time and event id, run the plug-in's Transform, project attributes.
// (core/plugin/usp_plugin.h describes the plug-in's part.)

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/signal_record.h"
#include "core/status.h"
#include "core/user_signal.h"

namespace usp {

struct SourceEvent {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view payload;  // raw Kafka message value
};

enum class TransformOutcome {
  kEmitted,   // *record was filled
  kFiltered,  // a filter rejected the event: nothing to emit, not an error
  kFailed,    // the event is bad: *error was filled
};

struct TransformError {
  // Stable metric label: not_json, not_object, missing_user_id, bad_user_id,
  // missing_event_time, bad_event_time, bad_event_id, unknown_topic,
  // transform_failed (the plug-in failed the event, threw, or returned
  // something other than a JSON object).
  std::string reason;
  std::string message;  // human readable, names the pointer involved
};

class SignalTransformPlugin;
class SignalTransformRegistry;

// Thread-compatible: owns a JSON parser (and its plug-in instance); use one
// instance per thread.
class SignalTransform {
 public:
  // REQUIRES: spec validated, type simple. With `spec.transform`, the plug-in
  // of that name from `registry` (default: SignalTransformRegistry::Global(),
  // which --plugin libraries register into); an unknown name is
  // InvalidArgument "spec.transform: no signal transform plug-in named ...
  // (registered: ...)".
  static Result<std::unique_ptr<SignalTransform>> Create(const UserSignal& signal);
  static Result<std::unique_ptr<SignalTransform>> Create(const UserSignal& signal,
                                                         const SignalTransformRegistry& registry);
  ~SignalTransform();

  // `processing_time_ms` becomes the record's version. user_id must be a
  // non-empty string (or an integer, rendered in decimal). The event id is the
  // `eventIdField` value (string or integer) or "<topic>-<partition>-<offset>".
  TransformOutcome Apply(const SourceEvent& event, int64_t processing_time_ms, SignalRecord* record,
                         TransformError* error);

 private:
  SignalTransform(const UserSignal& signal, std::unique_ptr<SignalTransformPlugin> plugin);
  // Runs the plug-in's Transform; on kEmitted *doc is the event attributes
  // are projected from.
  TransformOutcome RunPlugin(const SourceEvent& event, simdjson::dom::element* doc,
                             TransformError* error);
  UserSignal signal_;
  std::unique_ptr<SignalTransformPlugin> plugin_;  // null without spec.transform
  // Per source topic filter (index parallel to topics_).
  std::vector<std::string> topics_;
  std::vector<PredicatePtr> source_filters_;
  simdjson::dom::parser parser_;
  simdjson::dom::parser plugin_parser_;  // parses what the plug-in returns
  std::string plugin_out_;
  std::string scratch_;
};

}  // namespace usp
