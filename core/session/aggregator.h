#pragma once
// A job's aggregations applied together: one Accumulator per AggregationSpec,
// in spec order. Aggregator is stateless (it holds the specs and resolves
// their field pointers); the state lives in Aggregates values, one per pane
// or session.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <string>
#include <vector>

#include "core/session/accumulator.h"
#include "core/session/session_job.h"
#include "core/status.h"

namespace usp {

using Aggregates = std::vector<Accumulator>;  // one per aggregation, spec order

class Aggregator {
 public:
  explicit Aggregator(std::vector<AggregationSpec> specs) : specs_(std::move(specs)) {}

  const std::vector<AggregationSpec>& specs() const { return specs_; }

  Aggregates Empty() const;

  // Adds one signal record (a JSON object) at its event time.
  void Add(const nlohmann::json& record, int64_t event_time_ms, Aggregates* into) const;

  // The parts of a record (parsed with simdjson) that Add reads, copied
  // into *out (an object, or anything when it is replaced): each
  // aggregation's field at its path, or the whole record when one reads all
  // of it (last_n without a field). Add(*out) then does what Add of the
  // record parsed by nlohmann would (numbers keep nlohmann's kinds; of
  // duplicate keys the last counts), without converting the rest.
  void ExtractFields(simdjson::dom::element record, nlohmann::json* out) const;

  // REQUIRES: both were made by this Aggregator (or one with equal specs).
  void Merge(const Aggregates& from, Aggregates* into) const;

  // The session record's "aggregations" object as compact JSON text, keys in
  // spec order: {"events":3,"cities":["Paris"]}.
  std::string ResultJson(const Aggregates& aggregates) const;

  // Whether any accumulator hit its distinct-value bound.
  bool Saturated(const Aggregates& aggregates) const;

  // [state, ...] in spec order; FromState(ToState(a)) == a.
  nlohmann::json ToState(const Aggregates& aggregates) const;
  // The same as compact JSON text (the bytes of ToState(a).dump()).
  void AppendState(const Aggregates& aggregates, std::string* out) const;
  Result<Aggregates> FromState(const nlohmann::json& state) const;

 private:
  std::vector<AggregationSpec> specs_;
};

}  // namespace usp
