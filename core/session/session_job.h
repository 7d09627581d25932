#pragma once
// The SessionJob resource (usp.dev/v1alpha1): windowed aggregations of a
// user's signals. Field names and defaults are contracts: see
// ../../../shared/DESIGN.md and crds/usp.dev_sessionjobs.yaml. Parsing follows
// ParseUserSignal's conventions (core/user_signal.h).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/field_error.h"
#include "core/json_pointer.h"
#include "core/user_signal.h"  // ObjectMeta, FailoverSpec

namespace usp {

enum class WindowType { kSliding, kSession };
enum class AggregationFn { kCount, kSum, kAvg, kMin, kMax, kDistinctCount, kTopK, kLastN };

const char* ToString(WindowType t);      // "sliding" | "session"
const char* ToString(AggregationFn fn);  // "count" ... "last_n"

// Limits enforced by validation (beyond the CRD schema), so that window
// arithmetic on epoch-ms times can never overflow and per-event work stays
// bounded.
// size, slide, gap and allowedLateness: at most 3650d.
inline constexpr int64_t kMaxWindowDurationMs = 3650LL * 24 * 3600 * 1000;
// size / slide: the windows each event is in.
inline constexpr int64_t kMaxWindowsPerEvent = 10000;
// k (top_k) and n (last_n), as in the CRD.
inline constexpr int32_t kMaxAggregationLimit = 10000;

struct WindowSpec {
  WindowType type = WindowType::kSliding;
  // Sliding: windows [s, s + size) for every multiple s of slide. Validation
  // requires slide to divide size, so every event is in exactly size / slide
  // windows.
  int64_t size_ms = 0;
  int64_t slide_ms = 0;
  // Session: [first event, last event + gap); an event at or after last + gap
  // starts a new session.
  int64_t gap_ms = 0;
};

struct AggregationSpec {
  std::string name;  // key in the session record's "aggregations"
  AggregationFn fn = AggregationFn::kCount;
  // A pointer into the signal record (e.g. /attributes/city). Required for sum
  // avg min max distinct_count top_k; optional for count (count events where
  // the field is present and not null) and last_n (absent: whole records).
  std::optional<JsonPointer> field;
  int32_t k = 0;  // top_k only, in [1, 10000]
  int32_t n = 0;  // last_n only, in [1, 10000]
};

struct AsyncComputeSpec {
  std::string url;             // http:// or https://
  int64_t timeout_ms = 5000;   // one request
  int32_t max_in_flight = 32;  // requests in flight per worker
  int32_t retries = 2;         // retries of a failed request, in [0, 100]
};

struct SessionJobSpec {
  std::vector<std::string> signals;  // UserSignal names, unique, at least one
  WindowSpec window;
  std::vector<AggregationSpec> aggregations;  // names unique, at least one
  int64_t allowed_lateness_ms = 60 * 1000;    // may be 0
  std::optional<AsyncComputeSpec> async_compute;
  std::string output_topic;  // default "usp.session.<name>"
  int32_t parallelism = 1;
  int32_t standby_replicas = 1;
  FailoverSpec failover;
};

struct SessionJob {
  ObjectMeta metadata;
  SessionJobSpec spec;
};

// Parses and validates a whole resource document ({apiVersion, kind,
// metadata, spec}) with defaults applied. On failure returns nullopt and
// appends every problem found with its field path, e.g.
// "spec.window.slide: must divide size (10m)",
// "spec.aggregations[2].k: required for top_k". Unknown fields are errors.
std::optional<SessionJob> ParseSessionJob(const nlohmann::json& doc, FieldErrors* errors);

// The normalized document: every field present with its default, durations
// in canonical form; `field` of an aggregation and `asyncCompute` only when
// set. ParseSessionJob(ToJson(x)) == x.
nlohmann::json ToJson(const SessionJob& job);

// Equal when the normalized documents are equal.
bool operator==(const SessionJob& a, const SessionJob& b);

}  // namespace usp
