#pragma once
// Segment logic: what one signal record means for a user's membership. The
// seed's three methods (in-segment, start time, expiration time) as a C++
// plug-in interface, plus the declarative logic built from a UserSegment's
// `enter` / `exit` / `expireAfter`.
//
// Logic decides; SegmentProcessor (segment_processor.h) applies the decision
// to the user's SegmentState under rules that hold for every logic
// (out-of-order events, expirations only move later, versions).

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/predicate.h"
#include "core/segment/segment_state.h"
#include "core/segment/user_segment.h"
#include "core/status.h"

namespace usp {

// A signal record (core/signal_record.h) as segment logic sees it: the fields
// every logic needs, and the whole record for filters and plug-ins
// (pointers address it: /attributes/destination, /event_id).
// Borrows from the parser that produced it.
struct SignalView {
  std::string_view user_id;
  std::string_view signal;  // the UserSignal's name
  int64_t event_time = 0;   // epoch ms
  simdjson::dom::element record;
};

// Parses a serialized signal record (what signal output topics carry). The
// view is valid until the next parse on *parser. Errors name the field
// ("user_id: required", "event_time: must be an integer").
Result<SignalView> ParseSignalView(std::string_view json, simdjson::dom::parser* parser);

// Custom segment logic. For each signal record of one of the segment's
// TriggerSignals() the processor calls:
//   IsTrigger(signal)                -> false: the record is ignored.
//   InSegment(signal, state)         -> should the user be in the segment after it?
//   if so, ExpirationTime(signal, state) and, when a new membership starts,
//   StartTime(signal, state).
// `state` is the user's state before the signal (after closing a membership
// whose expiration the signal's event time has passed).
//
// Implementations must be deterministic functions of their arguments (a
// replay and a standby must reach the same state) and safe to call
// concurrently through const methods.
class SegmentLogic {
 public:
  virtual ~SegmentLogic() = default;

  // Whether the record concerns this segment at all. Default: every record.
  virtual bool IsTrigger(const SignalView& signal) const { return true; }

  // True: the record enters (or keeps) the user in the segment. False: it
  // takes the user out (a no-op for a user who is out).
  virtual bool InSegment(const SignalView& signal, const SegmentState& state) const = 0;

  // The start of a membership this record opens, epoch ms. Only called when
  // the user is out. The processor never lets it precede the end of the
  // previous membership.
  virtual int64_t StartTime(const SignalView& signal, const SegmentState& state) const = 0;

  // When the membership expires, epoch ms; nullopt: never (only an exit ends
  // it). Within a membership the processor keeps the later of the current
  // and the returned expiration: expirations never move earlier.
  virtual std::optional<int64_t> ExpirationTime(const SignalView& signal,
                                                const SegmentState& state) const = 0;
};

// The logic of a UserSegment without `transform`:
// - a record of an `exit` signal that matches `exit.filter` takes the user out;
// - otherwise a record of an `enter` signal that matches `enter.filter` puts
//   the user in: start = its event time, expiration = event time +
//   `expireAfter` (none without `expireAfter`);
// - any other record is not a trigger.
// A record that matches both enter and exit exits.
class DeclarativeSegmentLogic final : public SegmentLogic {
 public:
  enum class Match { kNone, kEnter, kExit };

  // REQUIRES: spec validated (ParseUserSegment).
  explicit DeclarativeSegmentLogic(const UserSegmentSpec& spec);

  Match Classify(const SignalView& signal) const;

  bool IsTrigger(const SignalView& signal) const override;
  bool InSegment(const SignalView& signal, const SegmentState& state) const override;
  int64_t StartTime(const SignalView& signal, const SegmentState& state) const override;
  std::optional<int64_t> ExpirationTime(const SignalView& signal,
                                        const SegmentState& state) const override;

 private:
  static bool Matches(const SegmentTrigger& trigger, const SignalView& signal);

  SegmentTrigger enter_;
  std::optional<SegmentTrigger> exit_;
  std::optional<int64_t> expire_after_ms_;
};

}  // namespace usp
