#pragma once
// The segment record: what segment output topics carry, keyed by user id.
// {"user_id", "segment", "in_segment", "start", "expiration", "version",
//  "reason": "enter"|"exit"|"expired"}
//
// A record describes one membership of a user in a segment, identified by
// (segment, user_id, start). `in_segment` true: the user is in from `start`
// until `expiration` (null: no expiry, only an exit ends it). `in_segment`
// false: the membership ended, and `expiration` is when it ended (the exit's
// event time, or the expiration that passed). A later record of the same
// membership (an extension, the exit, the expiry) has a higher `version`, so
// an append-only store that keeps the newest version per identity holds each
// membership's latest state.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

enum class SegmentReason { kEnter, kExit, kExpired };

const char* ToString(SegmentReason reason);  // "enter" | "exit" | "expired"
std::optional<SegmentReason> ParseSegmentReason(std::string_view text);

struct SegmentRecord {
  std::string user_id;
  std::string segment;  // the UserSegment's name
  bool in_segment = false;
  int64_t start = 0;                  // membership start, epoch ms (event time)
  std::optional<int64_t> expiration;  // epoch ms; null only while in with no expiry
  // Processing time, epoch ms, strictly increasing per user and segment (newer
  // wins). See SegmentProcessor for how it is chosen.
  int64_t version = 0;
  SegmentReason reason = SegmentReason::kEnter;

  bool operator==(const SegmentRecord&) const = default;
};

// Canonical compact JSON with keys in the order above. Appends to *out.
void AppendSegmentRecordJson(const SegmentRecord& record, std::string* out);
std::string SerializeSegmentRecord(const SegmentRecord& record);

// Accepts any key order and ignores unknown keys (forward compatibility).
// Rejects records that contradict themselves: `reason` enter with
// `in_segment` false (or exit/expired with true), and an ended membership
// without an `expiration`.
Result<SegmentRecord> ParseSegmentRecord(std::string_view json);

}  // namespace usp
