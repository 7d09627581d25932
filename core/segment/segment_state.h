#pragma once
// What a segment job keeps per user: the current membership, or the last one
// when the user is out. It lives in the job's RocksDB state store and its
// compacted changelog topic (key = user id), so it has a byte encoding that
// is stable across versions of the worker.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/segment/segment_record.h"
#include "core/status.h"

namespace usp {

struct SegmentState {
  bool has_membership = false;  // false until the user first enters
  bool in_segment = false;
  int64_t start = 0;  // the membership's start, epoch ms (event time)
  // In: the planned expiration (none: no expiry). Out: when the last
  // membership ended. Always set when has_membership && !in_segment.
  std::optional<int64_t> expiration;
  // Event time of the newest enter-trigger of this membership; exits older
  // than it are ignored.
  int64_t last_enter_time = 0;
  SegmentReason reason = SegmentReason::kEnter;  // the last transition
  int64_t version = 0;                           // version of the last record emitted for this user

  bool operator==(const SegmentState&) const = default;
};

// Compact JSON with a format number:
// {"format":1,"has_membership":true,"in_segment":true,"start":...,
//  "expiration":...|null,"last_enter_time":...,"reason":"enter","version":...}
std::string SerializeSegmentState(const SegmentState& state);

// Rejects other formats and states that contradict themselves (in the segment
// without a membership, ended without an end time).
Result<SegmentState> ParseSegmentState(std::string_view bytes);

}  // namespace usp
