#pragma once
// Status conditions with meta.SetStatusCondition semantics: a condition is
// keyed by type; lastTransitionTime changes only when status changes, so a
// reconcile that finds nothing new writes nothing new.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/controller/clock.h"

namespace usp::op {

inline constexpr const char* kConditionReady = "Ready";
inline constexpr const char* kConditionProgressing = "Progressing";
inline constexpr const char* kConditionDegraded = "Degraded";

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase
  std::string message;
  int64_t observed_generation = 0;
};

// Sets `c` in the conditions array (creating the array when null). Returns
// true when anything changed.
bool SetStatusCondition(nlohmann::json* conditions, const Condition& c, TimePoint now);

// The condition of that type, or nullopt.
std::optional<nlohmann::json> FindStatusCondition(const nlohmann::json& conditions, const std::string& type);

// True when the condition of that type has status "True".
bool IsStatusConditionTrue(const nlohmann::json& conditions, const std::string& type);

}  // namespace usp::op
