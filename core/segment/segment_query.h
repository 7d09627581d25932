#pragma once
// Point-in-time segment answers from segment records: what backs
// GET /v1/users/{id}/segments[?at=MS]. Pure: the query service reads a
// user's segment records from its store and asks these functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/segment/segment_record.h"

namespace usp {

// One entry of the answer's "segments" list.
struct SegmentMembership {
  std::string segment;
  bool in_segment = false;
  int64_t start = 0;                  // the membership's start
  std::optional<int64_t> expiration;  // when it expires or ended; null: no expiry
  bool operator==(const SegmentMembership&) const = default;
};

// The user's segments as of `at` (epoch ms), sorted by segment name.
// `records`: one user's segment records in any order, duplicates and older
// versions included. Per (segment, start) the newest version describes the
// membership [start, expiration) (expiration exclusive; null = open-ended).
// For each segment, the membership with the latest start <= at answers:
// in_segment = at < expiration, with that membership's start and its
// (latest known) expiration; a membership that had ended by `at` gives
// in_segment false with its start and end. Segments with no membership
// starting at or before `at` are left out (the user had no history there).
std::vector<SegmentMembership> SegmentsAt(std::span<const SegmentRecord> records, int64_t at);

// The answer now: SegmentsAt(records, now_ms). An expiration that has passed
// counts as out even when its `expired` record has not been written yet
// (expiry is wall-clock; the timer's record may lag).
std::vector<SegmentMembership> SegmentsNow(std::span<const SegmentRecord> records, int64_t now_ms);

// {"segment","in_segment","start","expiration"} as compact JSON, appended.
void AppendSegmentMembershipJson(const SegmentMembership& membership, std::string* out);

}  // namespace usp
