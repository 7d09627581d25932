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
#include <utility>
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
  // something other than a JSON object), lookup_failed (a lookup row made
  // the enriched event invalid JSON; rows are validated when loaded).
  std::string reason;
  std::string message;  // human readable, names the pointer involved
};

// The tables of spec.lookups, as the enrichment step reads them (runtime/
// lookup's RocksDB tables in the worker, a map in tests). Must be safe to
// call from the transform's thread while the tables are being loaded.
class LookupSource {
 public:
  virtual ~LookupSource() = default;
  // Sets *value_json to the JSON text of the row with `key` in the table of
  // spec.lookups[index] and returns true; false when there is no such row.
  virtual bool Lookup(size_t index, std::string_view key, std::string* value_json) = 0;
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

  // The tables spec.lookups are read from (must outlive the transform).
  // Enrichment, before every filter: for each lookup, the event's keyField
  // value (a string, or an integer in decimal) is looked up and the row's
  // JSON is inserted at `into` (creating objects on the way, replacing what
  // was there), or null when the key is missing/not a string or integer, the
  // table has no such row, or no source was set.
  void SetLookupSource(LookupSource* source) { lookups_ = source; }

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
  // Where lookup results go: a tree of the `into` pointers' tokens.
  // (Each node holds its own key: a vector<pair<string, InsertNode>> inside
  // InsertNode does not compile with clang and libstdc++.)
  struct InsertNode {
    std::string key;  // the token under which the parent holds this node
    int lookup = -1;  // >= 0: a leaf, the value of spec.lookups[lookup]
    std::vector<InsertNode> children;
  };
  // Re-writes *doc with the lookup results inserted, parsed by
  // enrich_parser_. False (with *error) only when that fails.
  bool Enrich(simdjson::dom::element* doc, TransformError* error);
  void WriteEnriched(simdjson::dom::element value, const InsertNode& node, std::string* out) const;
  void WriteNew(const InsertNode& node, std::string* out) const;

  UserSignal signal_;
  std::unique_ptr<SignalTransformPlugin> plugin_;
  LookupSource* lookups_ = nullptr;
  InsertNode insert_root_;
  std::vector<std::string> lookup_values_;  // JSON text per lookup, this event
  std::string lookup_key_;
  std::string enriched_;
  simdjson::dom::parser enrich_parser_;  // null without spec.transform
  // Per source topic filter (index parallel to topics_).
  std::vector<std::string> topics_;
  std::vector<PredicatePtr> source_filters_;
  simdjson::dom::parser parser_;
  simdjson::dom::parser plugin_parser_;  // parses what the plug-in returns
  std::string plugin_out_;
  std::string scratch_;
};

}  // namespace usp
