#pragma once
// Event filters. A predicate is either a comparison {field, op, value} with op
// in eq ne gt gte lt lte in exists prefix, or a combinator {all: [...]},
// {any: [...]}, {not: ...}. Predicates are compiled once from the resource and
// evaluated per event without allocation.
//
// Semantics: a missing field makes every comparison false except `exists`
// (value true/false, default true) and `ne` (true). Numbers compare as
// numbers (int/uint/double mixed), strings lexicographically by bytes; a type
// mismatch is false, except for `ne`, which is always the negation of `eq`.
// eq/ne/in compare strings, numbers, booleans and null; gt/gte/lt/lte take a
// number or a string. `in` takes a list; `prefix` takes a string and applies to
// strings. {all: []} is true, {any: []} is false.

#include <simdjson.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/field_error.h"
#include "core/json_pointer.h"
#include "core/status.h"

namespace usp {

class Predicate {
 public:
  // Compiles `spec`; on failure appends errors whose paths start at `path`
  // (e.g. "spec.filter.all[1].op: must be one of eq, ne, ...") and returns
  // nullptr.
  static std::shared_ptr<const Predicate> Compile(const nlohmann::json& spec,
                                                  const std::string& path, FieldErrors* errors);

  virtual ~Predicate() = default;
  virtual bool Evaluate(simdjson::dom::element event) const = 0;
  // The normalized form (what Compile accepts).
  virtual nlohmann::json ToJson() const = 0;
};

using PredicatePtr = std::shared_ptr<const Predicate>;

}  // namespace usp
