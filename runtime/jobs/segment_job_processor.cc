#include "runtime/jobs/segment_job_processor.h"

#include <utility>

#include "core/segment/segment_logic.h"
#include "core/segment/segment_record.h"
#include "core/segment/segment_state.h"

namespace usp {

namespace {

Result<SegmentState> LoadState(const std::optional<std::string>& stored) {
  if (!stored.has_value()) return SegmentState{};
  auto state = ParseSegmentState(*stored);
  if (!state.ok()) return Status::Internal("stored segment state: " + state.status().message());
  return state;
}

}  // namespace

Result<std::unique_ptr<SegmentJobProcessor>> SegmentJobProcessor::Create(
    const UserSegment& segment, Clock* clock, const SegmentLogicRegistry& registry) {
  auto processor = SegmentProcessor::Create(segment, registry);
  if (!processor.ok()) return processor.status();
  return std::unique_ptr<SegmentJobProcessor>(
      new SegmentJobProcessor(std::move(processor).value(), clock));
}

Result<std::string> SegmentJobProcessor::KeyOf(std::string_view record) {
  auto view = ParseSignalView(record, &parser_);
  if (!view.ok()) {
    ++stats_.invalid;
    return view.status();
  }
  if (view->user_id.empty()) {
    ++stats_.invalid;
    return Status::InvalidArgument("user_id: must not be empty");
  }
  return std::string(view->user_id);
}

void SegmentJobProcessor::Finish(const SegmentState& before, const SegmentState& after,
                                 const std::vector<SegmentRecord>& records, ProcessorEffects* out) {
  if (!(before == after)) {
    out->state_changed = true;
    out->state = SerializeSegmentState(after);
  }
  const std::optional<int64_t> old_timer = SegmentProcessor::NextTimer(before);
  const std::optional<int64_t> new_timer = SegmentProcessor::NextTimer(after);
  if (old_timer != new_timer) {
    if (old_timer.has_value()) out->timers_to_cancel.push_back(*old_timer);
    if (new_timer.has_value()) out->timers_to_set.push_back(*new_timer);
  }
  for (const SegmentRecord& r : records) {
    out->outputs.push_back({r.user_id, SerializeSegmentRecord(r), r.version});
    ++stats_.outputs;
  }
}

Status SegmentJobProcessor::Process(std::string_view key, std::string_view record,
                                    const std::optional<std::string>& state,
                                    ProcessorEffects* out) {
  auto view = ParseSignalView(record, &parser_);
  if (!view.ok()) return Status::Ok();  // KeyOf accepted it: cannot happen; nothing to do
  if (view->user_id != key) return Status::Internal("record key does not match its user_id");
  auto before = LoadState(state);
  if (!before.ok()) return before.status();
  SegmentState after = *before;
  std::vector<SegmentRecord> records = processor_.Apply(&after, *view, clock_->NowMs());
  ++stats_.records;
  Finish(*before, after, records, out);
  return Status::Ok();
}

Status SegmentJobProcessor::OnTimer(std::string_view key, int64_t at_ms,
                                    const std::optional<std::string>& state,
                                    ProcessorEffects* out) {
  if (!state.has_value()) {
    ++stats_.stale_timers;
    return Status::Ok();
  }
  auto before = LoadState(state);
  if (!before.ok()) return before.status();
  SegmentState after = *before;
  // The worker fires a timer once the clock reached it; the processor
  // checks the membership's expiration against the timer's own time so
  // the record is exact even if the loop ran a little late.
  const int64_t now = std::max(at_ms, clock_->NowMs());
  std::vector<SegmentRecord> records = processor_.FireTimer(key, &after, now);
  if (records.empty()) ++stats_.stale_timers;
  for (const SegmentRecord& r : records) stats_.expired += r.reason == SegmentReason::kExpired;
  // The fired timer is removed by the worker; only a different next timer
  // needs setting (none after an expiry).
  std::optional<int64_t> new_timer = SegmentProcessor::NextTimer(after);
  ProcessorEffects effects;
  Finish(*before, after, records, &effects);
  effects.timers_to_cancel.clear();
  effects.timers_to_set.clear();
  if (new_timer.has_value() && *new_timer != at_ms) effects.timers_to_set.push_back(*new_timer);
  *out = std::move(effects);
  return Status::Ok();
}

}  // namespace usp
