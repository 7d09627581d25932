#pragma once
// The UserSegment resource (usp.dev/v1alpha1), as `kubectl apply` takes it:
// a live cohort that signals put users into (`enter`) and take them out of
// (`exit`, or `expireAfter` of inactivity). Field names and defaults are
// contracts: see ../../../shared/DESIGN.md and crds/usp.dev_usersegments.yaml.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/field_error.h"
#include "core/predicate.h"
#include "core/user_signal.h"  // ObjectMeta, FailoverSpec, kApiVersion

namespace usp {

inline constexpr const char* kUserSegmentKind = "UserSegment";

// `spec.enter` / `spec.exit`: signal records of the named UserSignals that
// match `filter` (evaluated on the signal record, e.g. /attributes/city)
// trigger the transition.
struct SegmentTrigger {
  std::vector<std::string> signals;  // UserSignal names, non-empty, no duplicates
  PredicatePtr filter;               // may be null: every record of those signals
};

struct UserSegmentSpec {
  SegmentTrigger enter;
  std::optional<SegmentTrigger> exit;  // none: only expiry ends a membership
  // Inactivity expiry; every enter-trigger extends it. None: only exit ends
  // a membership.
  std::optional<int64_t> expire_after_ms;
  std::string transform;     // SegmentLogic plug-in name; empty = declarative
  std::string output_topic;  // default "usp.segment.<name>"
  int32_t parallelism = 1;
  int32_t standby_replicas = 1;
  FailoverSpec failover;
};

struct UserSegment {
  ObjectMeta metadata;
  UserSegmentSpec spec;

  // Every UserSignal the job consumes (enter, then exit), without duplicates.
  std::vector<std::string> TriggerSignals() const;
};

// Parses and validates a whole resource document ({apiVersion, kind,
// metadata, spec}) with defaults applied, like ParseUserSignal. On failure
// returns nullopt and appends every problem found with its field path, e.g.
// "spec.enter.signals: must not be empty", "spec.expireAfter: invalid
// duration ...". Unknown fields are errors; `status` is ignored.
std::optional<UserSegment> ParseUserSegment(const nlohmann::json& doc, FieldErrors* errors);

// The normalized document: every field present with its default (optional
// fields without a default, `exit`, `expireAfter`, `transform`, are left out
// when unset), durations in canonical form. ParseUserSegment(ToJson(x)) == x.
nlohmann::json ToJson(const UserSegment& segment);

// Equal when the normalized documents are equal (filters compare by content).
bool operator==(const UserSegment& a, const UserSegment& b);

}  // namespace usp
