#pragma once
// Realistic source events for the benchmarks: the search / listing view /
// booking shapes of cli/event_generator.cc (MakeSyntheticEvent), with the
// client context a production event carries (app version, locale, request
// id, experiments, user agent), so that events weigh 300-600 bytes as they do
// in real streams. Deterministic for a given rng seed. Built with plain string
// appends so that generating half a million of them takes well under a second.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace usp::bench {

enum class EventShape { kSearch, kListingView, kBooking };

inline constexpr EventShape kAllShapes[] = {EventShape::kSearch, EventShape::kListingView,
                                            EventShape::kBooking};

// "search" | "listing_view" | "booking"
const char* ShapeName(EventShape shape);

// One compact JSON event. `time_ms` becomes event_time: an RFC 3339 string
// for searches and bookings, epoch ms for listing views (both forms occur in
// real streams). `sequence` makes event_id unique.
std::string MakeEvent(EventShape shape, std::string_view user_id, int64_t time_ms,
                      uint64_t sequence, std::mt19937_64& rng);

// The attribute projection a UserSignal over this shape would declare:
// output name -> RFC 6901 pointer. 4-5 attributes; bookings project one
// object (/total_price) so that nested values are re-serialized too.
struct Attribute {
  const char* name;
  const char* pointer;
};
const std::vector<Attribute>& ShapeAttributes(EventShape shape);

}  // namespace usp::bench
