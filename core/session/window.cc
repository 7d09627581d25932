#include "core/session/window.h"

namespace usp {

const char* ToString(AddOutcome outcome) {
  switch (outcome) {
    case AddOutcome::kOnTime:
      return "on_time";
    case AddOutcome::kLate:
      return "late";
    case AddOutcome::kDroppedLate:
      return "dropped_late";
    case AddOutcome::kIgnored:
      return "ignored";
  }
  return "on_time";
}

std::vector<TimeWindow> SlidingWindowsFor(int64_t t, int64_t size_ms, int64_t slide_ms) {
  const int64_t windows = size_ms / slide_ms;
  const int64_t last_start = PaneOf(t, slide_ms) * slide_ms;
  std::vector<TimeWindow> out;
  out.reserve(static_cast<size_t>(windows));
  for (int64_t i = windows - 1; i >= 0; --i) {
    const int64_t start = last_start - i * slide_ms;
    out.push_back({start, start + size_ms});
  }
  return out;
}

}  // namespace usp
