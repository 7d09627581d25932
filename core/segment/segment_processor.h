#pragma once
// The segment state machine, one user at a time: signal records and timers
// in, segment records out. Pure: the caller (the worker) owns the state
// store, the timer service and the clock, and passes the processing time in.
//
// Rules (t = the signal's event time; a membership is [start, expiration)):
// - enter, user out: a new membership [StartTime, ExpirationTime) -> `enter`.
// - enter, user in: start stays, expiration becomes the later of the two
//   -> `enter` when it moved (re-enter extends); nothing when it did not
//   (an enter older than the current start, or older than the newest enter).
// - exit, user in: the membership ends at t -> `exit` (expiration = t).
// - expiry: a timer at the expiration (or a later trigger whose t has passed
//   it) ends the membership at its expiration -> `expired`.
// Out of order (events arrive in any order; rules look only at event times):
// - an exit older than the newest enter of the membership is ignored;
// - an enter older than the end of the last membership is ignored, except
//   one inside a membership that *expired* (not exited) which would have kept
//   it alive: that membership reopens with its start and the later expiration
//   (`enter`, a newer version of the same membership);
// - an exit inside a membership that already expired, and not older than its
//   newest enter, moves the end earlier to t (`exit`);
// - a new membership never starts before the previous one ended.
// Versions: each record's version is max(processing time, previous version
// + 1), so they increase per user and segment even when the clock does not.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/segment/segment_logic.h"
#include "core/segment/segment_logic_registry.h"
#include "core/segment/segment_record.h"
#include "core/segment/segment_state.h"
#include "core/segment/user_segment.h"
#include "core/status.h"

namespace usp {

// Thread-compatible and stateless between calls: one instance may serve
// every user of a segment, from several threads when the logic allows it.
class SegmentProcessor {
 public:
  // The processor for `segment` with MakeSegmentLogic's logic.
  // REQUIRES: segment validated (ParseUserSegment).
  static Result<SegmentProcessor> Create(
      const UserSegment& segment,
      const SegmentLogicRegistry& registry = SegmentLogicRegistry::Global());

  // REQUIRES: segment validated; logic != nullptr.
  SegmentProcessor(const UserSegment& segment, std::unique_ptr<SegmentLogic> logic);

  // Applies one signal record of `signal.user_id` to *state (that user's
  // state; a default SegmentState for a user never seen). Returns the records
  // to write, in order (at most two: an `expired` that the event time
  // implies, then the record of the signal). Records of signals the segment
  // does not name are ignored. *state may change without a record (a
  // re-enter that does not extend the expiration still moves the newest
  // enter time), so persist it whenever it differs from what was read.
  std::vector<SegmentRecord> Apply(SegmentState* state, const SignalView& signal,
                                   int64_t processing_time_ms) const;

  // When the worker must call FireTimer for this user: the expiration of the
  // current membership; nullopt when none is due. After every Apply, the
  // timer moves here (timers set earlier may stay registered: they are stale,
  // and FireTimer ignores them).
  static std::optional<int64_t> NextTimer(const SegmentState& state);

  // A timer of `user_id` fired at `now_ms` (wall clock, epoch ms). Emits the
  // `expired` record iff the user is in the segment and now_ms >= the
  // expiration; a stale timer (the expiration has moved later since it was
  // set) emits nothing. The record's version is chosen as in Apply with
  // now_ms as the processing time.
  std::vector<SegmentRecord> FireTimer(std::string_view user_id, SegmentState* state,
                                       int64_t now_ms) const;

  const std::string& segment_name() const { return segment_; }
  // The UserSignals whose records this segment reads.
  const std::vector<std::string>& trigger_signals() const { return trigger_signals_; }

 private:
  void ApplyEnter(const SignalView& signal, SegmentState* state, int64_t now,
                  std::vector<SegmentRecord>* out) const;
  void ApplyExit(const SignalView& signal, SegmentState* state, int64_t now,
                 std::vector<SegmentRecord>* out) const;
  void Expire(std::string_view user_id, SegmentState* state, int64_t now,
              std::vector<SegmentRecord>* out) const;
  // Stamps a version on *state and appends the record describing it.
  void Emit(std::string_view user_id, SegmentState* state, int64_t now,
            std::vector<SegmentRecord>* out) const;

  std::string segment_;
  std::vector<std::string> trigger_signals_;
  std::shared_ptr<const SegmentLogic> logic_;  // shared: the processor is copyable
};

}  // namespace usp
