#pragma once
// SegmentJobProcessor: a UserSegment as a KeyedProcessor for the stateful
// worker (runtime/stateful/stateful_worker.h). The rules are
// core/segment/segment_processor.h's; this adapter only maps them onto the
// worker's contract:
//
//  - source records: signal records (core/signal_record.h) from the output
//    topics of the signals the segment names; key = user_id;
//  - state per user: SerializeSegmentState (core/segment/segment_state.h);
//  - outputs: segment records keyed by user_id, timestamp = their version;
//  - expiry: one wall-clock timer per user at the exact expiration of the
//    current membership (SegmentProcessor::NextTimer). When an enter extends
//    the expiration the old timer is cancelled and the new one set; an exit
//    cancels it. A timer that fires emits the `expired` record (reason
//    "expired", expiration = the timer's time).
//
// Thread-compatible (one worker loop calls it).

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/segment/segment_processor.h"
#include "core/segment/user_segment.h"
#include "core/status.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_io.h"

namespace usp {

struct SegmentJobStats {
  int64_t records = 0;       // signal records applied
  int64_t invalid = 0;       // records that are not signal records (KeyOf failed)
  int64_t outputs = 0;       // segment records emitted
  int64_t expired = 0;       // `expired` records emitted by timers
  int64_t stale_timers = 0;  // timers that fired with nothing to expire
};

class SegmentJobProcessor : public KeyedProcessor {
 public:
  // `clock` gives the processing time (record versions, timer checks); it
  // must outlive the processor. REQUIRES: `segment` validated.
  static Result<std::unique_ptr<SegmentJobProcessor>> Create(
      const UserSegment& segment, Clock* clock,
      const SegmentLogicRegistry& registry = SegmentLogicRegistry::Global());

  Result<std::string> KeyOf(std::string_view record) override;
  Status Process(std::string_view key, std::string_view record,
                 const std::optional<std::string>& state, ProcessorEffects* out) override;
  Status OnTimer(std::string_view key, int64_t at_ms, const std::optional<std::string>& state,
                 ProcessorEffects* out) override;

  const SegmentJobStats& stats() const { return stats_; }

 private:
  SegmentJobProcessor(SegmentProcessor processor, Clock* clock)
      : processor_(std::move(processor)), clock_(clock) {}
  // Sets state, timers and outputs of `out` from the transition
  // `before` -> `after` and the records it produced.
  void Finish(const SegmentState& before, const SegmentState& after,
              const std::vector<SegmentRecord>& records, ProcessorEffects* out);

  SegmentProcessor processor_;
  Clock* clock_;
  simdjson::dom::parser parser_;
  SegmentJobStats stats_;
};

}  // namespace usp
