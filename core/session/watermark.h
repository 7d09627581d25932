#pragma once
// Event-time watermarks of one SessionJob partition.
//
// A SessionJob worker assigned partition p reads partition p of every listed
// signal's output topic (they are co-partitioned by user id); each of those
// topic-partitions is a *source*. The watermark of a source is the largest
// event time seen on it: the promise that event time has reached that point.
// The partition's watermark is the minimum over its active sources, so a
// lagging topic never makes the others' events look late. A source marked
// idle (the runtime decides: no message for a while) does not hold the
// watermark back; when every source is idle the watermark is the largest
// event time seen on any. Until every active source has seen an event there
// is no watermark (kNoWatermark). The watermark never goes back.
//
// Lateness is applied by SessionWindowOperator, not here: a window is
// emitted when the watermark reaches its end and finalized (state dropped,
// later events counted as dropped-late) when the watermark reaches its end +
// allowedLateness, i.e. when max event time - allowedLateness >= end.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace usp {

inline constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

class WatermarkTracker {
 public:
  explicit WatermarkTracker(size_t sources) : sources_(sources) {}

  // REQUIRES: source < number of sources. Also marks the source active.
  void Observe(size_t source, int64_t event_time_ms);
  void SetIdle(size_t source, bool idle);

  int64_t watermark() const { return watermark_; }

 private:
  struct Source {
    int64_t max_event_time = kNoWatermark;
    bool idle = false;
  };
  void Recompute();

  std::vector<Source> sources_;
  int64_t watermark_ = kNoWatermark;
};

}  // namespace usp
