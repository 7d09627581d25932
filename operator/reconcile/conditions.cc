#include "operator/reconcile/conditions.h"

namespace usp::op {

using nlohmann::json;

bool SetStatusCondition(json* conditions, const Condition& c, TimePoint now) {
  if (!conditions->is_array()) *conditions = json::array();
  for (auto& existing : *conditions) {
    if (existing.value("type", "") != c.type) continue;
    bool changed = false;
    auto set = [&](const char* key, const json& value) {
      if (!existing.contains(key) || existing[key] != value) {
        existing[key] = value;
        changed = true;
      }
    };
    if (existing.value("status", "") != c.status) {
      existing["lastTransitionTime"] = FormatTime(now);
      changed = true;
    }
    set("status", c.status);
    set("reason", c.reason);
    set("message", c.message);
    set("observedGeneration", c.observed_generation);
    return changed;
  }
  conditions->push_back({{"type", c.type},
                         {"status", c.status},
                         {"reason", c.reason},
                         {"message", c.message},
                         {"observedGeneration", c.observed_generation},
                         {"lastTransitionTime", FormatTime(now)}});
  return true;
}

std::optional<json> FindStatusCondition(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return std::nullopt;
  for (const auto& c : conditions) {
    if (c.is_object() && c.value("type", "") == type) return c;
  }
  return std::nullopt;
}

bool IsStatusConditionTrue(const json& conditions, const std::string& type) {
  auto c = FindStatusCondition(conditions, type);
  return c && c->value("status", "") == "True";
}

}  // namespace usp::op
