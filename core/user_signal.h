#pragma once
// The UserSignal resource (usp.dev/v1alpha1), as `kubectl apply` takes it.
// Field names and defaults are contracts: see ../../shared/DESIGN.md and
// docs/resources.md.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/field_error.h"
#include "core/json_pointer.h"
#include "core/predicate.h"
#include "core/status.h"

namespace usp {

inline constexpr const char* kApiGroup = "usp.dev";
inline constexpr const char* kApiVersion = "usp.dev/v1alpha1";

enum class SignalType { kSimple, kLeftJoin };
enum class OnError { kFail, kSkip, kDeadLetter };

const char* ToString(SignalType t);  // "simple" | "left_join"
const char* ToString(OnError e);     // "fail" | "skip" | "deadLetter"

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";
  int64_t generation = 0;
  std::map<std::string, std::string> labels;
};

struct EventSource {
  std::string kafka_topic;
  PredicatePtr filter;  // may be null
};

struct JoinSource {
  std::string kafka_topic;
  JsonPointer join_key_field;
};

// spec.lookups[]: a table fed by a compacted topic (record key = table key,
// JSON value = the row, a null value deletes it). Before the filters and
// attributes, each event gets the row whose key is the event's `keyField`
// value (a string, or an integer in decimal) inserted at `into`, or null
// when there is none.
struct LookupSpec {
  std::string name;         // [A-Za-z0-9_-]+, unique in the list
  std::string kafka_topic;  // the compacted topic feeding the table
  JsonPointer key_field;    // pointer into the event (as consumed)
  JsonPointer into;         // default "/lookups/<name>"; never the root
};

struct FailoverSpec {
  int64_t probe_interval_ms = 500;
  int32_t failure_threshold = 2;
};

struct UserSignalSpec {
  SignalType type = SignalType::kSimple;
  std::vector<EventSource> event_sources;        // simple
  std::optional<JoinSource> left_event_source;   // left_join
  std::optional<JoinSource> right_event_source;  // left_join
  int64_t join_window_ms = 24LL * 3600 * 1000;
  JsonPointer user_id_field;                  // default "/user_id"
  JsonPointer event_time_field;               // default "/event_time"
  std::optional<JsonPointer> event_id_field;  // default: "topic-partition-offset"
  PredicatePtr filter;                        // may be null
  // Output attribute name -> pointer. Empty: the whole event is the attributes.
  std::map<std::string, JsonPointer> attributes;
  std::string transform;  // plug-in name; empty = none
  std::vector<LookupSpec> lookups;  // simple only; enrichment tables
  OnError on_error = OnError::kDeadLetter;
  std::string dead_letter_topic;  // default "usp.dlq.<name>"
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
  std::string output_topic;  // default "usp.signal.<name>"
  int32_t parallelism = 1;
  int32_t standby_replicas = 1;
  FailoverSpec failover;
};

struct UserSignal {
  ObjectMeta metadata;
  UserSignalSpec spec;

  // Every source topic the job consumes, in spec order, without duplicates.
  std::vector<std::string> SourceTopics() const;
  // The compacted topics of spec.lookups, in spec order, without duplicates
  // (not sources: they are read whole into the lookup tables).
  std::vector<std::string> LookupTopics() const;
};

// Parses and validates a whole resource document ({apiVersion, kind,
// metadata, spec}) with defaults applied. On failure returns nullopt and
// appends every problem found (not just the first) with its field path, e.g.
// "spec.eventSources[0].kafkaTopic: required", "spec.onError: must be one of
// fail, skip, deadLetter". Unknown spec fields are errors (like kubectl's
// strict field validation).
std::optional<UserSignal> ParseUserSignal(const nlohmann::json& doc, FieldErrors* errors);

// The normalized document: every field present with its default, durations
// in canonical form. ParseUserSignal(ToJson(x)) == x.
nlohmann::json ToJson(const UserSignal& signal);

// Equal when the normalized documents are equal (filters compare by content,
// not by pointer).
bool operator==(const UserSignal& a, const UserSignal& b);

}  // namespace usp
