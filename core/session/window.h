#pragma once
// Window assignment: which windows an event time belongs to. Pure arithmetic
// on epoch-ms event times; all windows are half-open [start, end).
//
// Sliding windows are aligned to multiples of `slide` since the epoch: an
// event at t belongs to every window [s, s + size) with s a multiple of slide
// and s <= t < s + size. With slide dividing size (validation requires it)
// that is exactly size / slide windows. Internally they are built from panes:
// pane p = [p * slide, (p + 1) * slide); window [s, s + size) is the panes
// s / slide .. s / slide + size / slide - 1, so an event updates one pane and
// a window's result is the merge of its panes.
//
// Session windows run from the first event to the last event + gap: an event
// at t extends a session [start, end) when start - gap < t < end, and an
// event that falls within gap of two sessions merges them.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace usp {

// Event times are epoch ms in [0, kMaxEventTimeMs] (9999-12-31T23:59:59.999Z);
// with window durations bounded by validation, window arithmetic never
// overflows.
inline constexpr int64_t kMaxEventTimeMs = 253402300799999;

// What SessionWindowOperator did with one event.
enum class AddOutcome {
  kOnTime,       // applied; every window it changed was still open
  kLate,         // applied within allowedLateness to a window already due (end <= watermark)
                 // or already emitted: an updated result follows with a newer version
  kDroppedLate,  // beyond allowedLateness: every window it belongs to is finalized; not
                 // applied, counted in the operator's stats
  kIgnored,      // not one of the job's signals
};
const char* ToString(AddOutcome outcome);

struct TimeWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // exclusive
  bool operator==(const TimeWindow&) const = default;
  auto operator<=>(const TimeWindow&) const = default;
};

// Floor division (rounds toward negative infinity). REQUIRES: b > 0.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// The pane of `t`: floor(t / slide).
inline int64_t PaneOf(int64_t t, int64_t slide_ms) { return FloorDiv(t, slide_ms); }

// Every sliding window containing t, oldest start first.
// REQUIRES: size_ms > 0, slide_ms > 0, slide_ms divides size_ms.
std::vector<TimeWindow> SlidingWindowsFor(int64_t t, int64_t size_ms, int64_t slide_ms);

// The session window a lone event at t opens: [t, t + gap).
inline TimeWindow SessionWindowFor(int64_t t, int64_t gap_ms) { return {t, t + gap_ms}; }

// Whether two half-open windows share at least one instant. Touching windows
// ([0, 10) and [10, 20)) do not overlap, so sessions split on a gap of
// exactly `gap`.
inline bool Overlaps(const TimeWindow& a, const TimeWindow& b) {
  return a.start_ms < b.end_ms && b.start_ms < a.end_ms;
}

}  // namespace usp
