#include "core/segment/segment_processor.h"

#include <algorithm>

namespace usp {
namespace {

// The later of two expirations, where nullopt (no expiry) is the latest.
std::optional<int64_t> Later(const std::optional<int64_t>& a, const std::optional<int64_t>& b) {
  if (!a || !b) return std::nullopt;
  return std::max(*a, *b);
}

}  // namespace

Result<SegmentProcessor> SegmentProcessor::Create(const UserSegment& segment,
                                                  const SegmentLogicRegistry& registry) {
  Result<std::unique_ptr<SegmentLogic>> logic = MakeSegmentLogic(segment, registry);
  if (!logic.ok()) return logic.status();
  return SegmentProcessor(segment, std::move(logic).value());
}

SegmentProcessor::SegmentProcessor(const UserSegment& segment, std::unique_ptr<SegmentLogic> logic)
    : segment_(segment.metadata.name),
      trigger_signals_(segment.TriggerSignals()),
      logic_(std::move(logic)) {}

std::vector<SegmentRecord> SegmentProcessor::Apply(SegmentState* state, const SignalView& signal,
                                                   int64_t processing_time_ms) const {
  std::vector<SegmentRecord> out;
  // The job only consumes these signals; checking here keeps plug-ins from
  // ever seeing anything else (e.g. during a backfill over shared topics).
  if (std::find(trigger_signals_.begin(), trigger_signals_.end(), signal.signal) ==
          trigger_signals_.end() ||
      !logic_->IsTrigger(signal)) {
    return out;
  }
  // The membership ended at its expiration, before this event, even if the
  // timer has not fired yet (it is wall-clock; the event may be replayed).
  // Closing it first makes the result independent of timer interleaving.
  if (state->in_segment && state->expiration && signal.event_time >= *state->expiration) {
    Expire(signal.user_id, state, processing_time_ms, &out);
  }
  if (logic_->InSegment(signal, *state)) {
    ApplyEnter(signal, state, processing_time_ms, &out);
  } else {
    ApplyExit(signal, state, processing_time_ms, &out);
  }
  return out;
}

void SegmentProcessor::ApplyEnter(const SignalView& signal, SegmentState* state, int64_t now,
                                  std::vector<SegmentRecord>* out) const {
  const int64_t t = signal.event_time;
  const std::optional<int64_t> expiration = logic_->ExpirationTime(signal, *state);

  if (state->in_segment) {
    // Re-enter: keep start (also when t is older than it), extend only.
    state->last_enter_time = std::max(state->last_enter_time, t);
    const std::optional<int64_t> later = Later(state->expiration, expiration);
    if (later == state->expiration) return;
    state->expiration = later;
    Emit(signal.user_id, state, now, out);
    return;
  }

  if (state->has_membership && t < *state->expiration) {
    // Older than the end of the last membership. An exit that ended it is
    // newer and wins. An expiry only happened because this enter arrived
    // late: had it come in order, the membership would have lasted longer.
    const std::optional<int64_t> later = Later(state->expiration, expiration);
    if (state->reason == SegmentReason::kExpired && t >= state->start &&
        later != state->expiration) {
      state->in_segment = true;
      state->expiration = later;
      state->last_enter_time = std::max(state->last_enter_time, t);
      state->reason = SegmentReason::kEnter;
      Emit(signal.user_id, state, now, out);
    }
    return;
  }

  int64_t start = logic_->StartTime(signal, *state);
  // Memberships never overlap, so each instant has at most one answer.
  if (state->has_membership) start = std::max(start, *state->expiration);
  if (expiration && *expiration <= start) return;  // an empty membership: nothing to say

  state->has_membership = true;
  state->in_segment = true;
  state->start = start;
  state->expiration = expiration;
  state->last_enter_time = t;
  state->reason = SegmentReason::kEnter;
  Emit(signal.user_id, state, now, out);
}

void SegmentProcessor::ApplyExit(const SignalView& signal, SegmentState* state, int64_t now,
                                 std::vector<SegmentRecord>* out) const {
  const int64_t t = signal.event_time;
  if (state->in_segment) {
    // An exit older than the newest enter: the user entered again after it.
    if (t < state->last_enter_time) return;
    state->in_segment = false;
    state->expiration = t;
    state->reason = SegmentReason::kExit;
    Emit(signal.user_id, state, now, out);
    return;
  }
  // A late exit inside a membership the timer already closed: it really
  // ended earlier, at the exit.
  if (state->has_membership && state->reason == SegmentReason::kExpired &&
      t >= state->last_enter_time && t < *state->expiration) {
    state->expiration = t;
    state->reason = SegmentReason::kExit;
    Emit(signal.user_id, state, now, out);
  }
}

void SegmentProcessor::Expire(std::string_view user_id, SegmentState* state, int64_t now,
                              std::vector<SegmentRecord>* out) const {
  state->in_segment = false;  // the end is the expiration itself
  state->reason = SegmentReason::kExpired;
  Emit(user_id, state, now, out);
}

void SegmentProcessor::Emit(std::string_view user_id, SegmentState* state, int64_t now,
                            std::vector<SegmentRecord>* out) const {
  // Processing time as the version (the platform's convention), but never
  // equal to or below the previous one: a clock that steps back, or two
  // records in one call, must still let the newer row win.
  const int64_t previous = state->version;
  state->version = previous < now ? now : previous + 1;
  SegmentRecord record;
  record.user_id = std::string(user_id);
  record.segment = segment_;
  record.in_segment = state->in_segment;
  record.start = state->start;
  record.expiration = state->expiration;
  record.version = state->version;
  record.reason = state->reason;
  out->push_back(std::move(record));
}

std::optional<int64_t> SegmentProcessor::NextTimer(const SegmentState& state) {
  if (!state.in_segment) return std::nullopt;
  return state.expiration;
}

std::vector<SegmentRecord> SegmentProcessor::FireTimer(std::string_view user_id,
                                                       SegmentState* state, int64_t now_ms) const {
  std::vector<SegmentRecord> out;
  if (state->in_segment && state->expiration && now_ms >= *state->expiration) {
    Expire(user_id, state, now_ms, &out);
  }
  return out;
}

}  // namespace usp
