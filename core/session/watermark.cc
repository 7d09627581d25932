#include "core/session/watermark.h"

#include <algorithm>
#include <cassert>

namespace usp {

void WatermarkTracker::Observe(size_t source, int64_t event_time_ms) {
  assert(source < sources_.size());
  Source& s = sources_[source];
  s.idle = false;
  s.max_event_time = std::max(s.max_event_time, event_time_ms);
  Recompute();
}

void WatermarkTracker::SetIdle(size_t source, bool idle) {
  assert(source < sources_.size());
  sources_[source].idle = idle;
  Recompute();
}

void WatermarkTracker::Recompute() {
  int64_t active_min = std::numeric_limits<int64_t>::max();
  int64_t overall_max = kNoWatermark;
  bool any_active = false;
  for (const Source& s : sources_) {
    overall_max = std::max(overall_max, s.max_event_time);
    if (s.idle) continue;
    any_active = true;
    active_min = std::min(active_min, s.max_event_time);
  }
  const int64_t candidate = any_active ? active_min : overall_max;
  watermark_ = std::max(watermark_, candidate);
}

}  // namespace usp
