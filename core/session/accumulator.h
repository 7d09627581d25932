#pragma once
// Mergeable, serializable accumulators: one per aggregation per window (or
// per pane of sliding windows). Merge is what combines panes into a window
// and two sessions into one when an event bridges them; the state form is
// what the RocksDB state store and its changelog will hold.
//
// Values come from the signal record through the aggregation's `field`
// pointer. Missing fields and JSON null are ignored by every fn. Results:
//   count           integer (events; with a field, events where it is present)
//   sum             integer while every value is an integer and the sum fits
//                   int64, else double; 0 when no value
//   avg             double; null when no value
//   min, max        the number as it appeared (exact int/double comparison);
//                   null when no value
//   distinct_count  integer: distinct values by canonical JSON text ("1" and
//                   1 differ, {"a":1,"b":2} equals {"b":2,"a":1})
//   top_k           [{"value": v, "count": c}], at most k, by count
//                   descending, ties by the value's canonical text ascending
//   last_n          [v, ...], at most n, newest event time first; equal event
//                   times keep arrival order (the later arrival is newer)
// sum avg min max ignore values that are not numbers.
//
// Bounded memory: distinct_count and top_k track at most kMaxTrackedValues
// distinct values per accumulator. Past that, values not yet tracked are
// ignored and saturated() turns true; the result is then a lower bound
// (distinct_count) or an approximation (top_k). last_n keeps n values.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/session/session_job.h"
#include "core/status.h"

namespace usp {

inline constexpr size_t kMaxTrackedValues = 10000;

class Accumulator {
 public:
  // An empty accumulator for spec.fn (k, n taken from the spec).
  explicit Accumulator(const AggregationSpec& spec);

  AggregationFn fn() const;

  // `value` is what the aggregation's field resolves to in the record (the
  // whole record when it has no field), nullptr when the field is missing.
  void Add(const nlohmann::json* value, int64_t event_time_ms);

  // Folds `other` in. REQUIRES: both were built from the same AggregationSpec.
  // For last_n, entries of *this count as earlier arrivals on equal times.
  void Merge(const Accumulator& other);

  // The result as it appears in the session record.
  nlohmann::json Value() const;
  // The same, appended as compact JSON text: the bytes of Value().dump()
  // (with error_handler_t::replace), without building the document.
  void AppendValue(std::string* out) const;

  // True once distinct_count / top_k hit kMaxTrackedValues.
  bool saturated() const;

  // A JSON form of the full state; FromState(spec, ToState()) restores it.
  nlohmann::json ToState() const;
  // The same, appended as compact JSON text: the bytes of ToState().dump()
  // (core/session/state_text.h), without building the document.
  void AppendState(std::string* out) const;
  static Result<Accumulator> FromState(const AggregationSpec& spec, const nlohmann::json& state);

  bool operator==(const Accumulator& other) const;

  // Exact numeric comparison across int64, uint64 and double: -1, 0 or 1.
  // REQUIRES: both are numbers.
  static int CompareNumbers(const nlohmann::json& a, const nlohmann::json& b);

 private:
  struct Sum {
    bool is_double = false;
    int64_t int_sum = 0;
    double double_sum = 0;
    void Add(const nlohmann::json& number);
    void Merge(const Sum& other);
    double AsDouble() const { return is_double ? double_sum : static_cast<double>(int_sum); }
    void ToDouble();
    bool operator==(const Sum&) const = default;
  };
  struct Count {
    int64_t count = 0;
    bool operator==(const Count&) const = default;
  };
  struct Avg {
    Sum sum;
    int64_t count = 0;
    bool operator==(const Avg&) const = default;
  };
  struct Extreme {  // min or max
    std::optional<nlohmann::json> best;
    bool operator==(const Extreme&) const = default;
  };
  struct Distinct {
    std::set<std::string> values;  // canonical JSON text
    bool saturated = false;
    bool operator==(const Distinct&) const = default;
  };
  struct TopK {
    std::map<std::string, int64_t> counts;  // canonical JSON text -> count
    bool saturated = false;
    bool operator==(const TopK&) const = default;
  };
  struct LastN {
    std::vector<std::pair<int64_t, nlohmann::json>> entries;  // oldest first
    bool operator==(const LastN&) const = default;
  };

  using State = std::variant<Count, Sum, Avg, Extreme, Distinct, TopK, LastN>;
  static State EmptyState(AggregationFn fn);
  void Trim();

  AggregationFn fn_;
  int32_t limit_ = 0;  // k or n
  State state_;
};

}  // namespace usp
