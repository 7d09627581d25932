#include "core/segment/segment_logic.h"

#include <algorithm>
#include <limits>

namespace usp {

Result<SignalView> ParseSignalView(std::string_view json, simdjson::dom::parser* parser) {
  simdjson::dom::element doc;
  if (auto err = parser->parse(json.data(), json.size(), true).get(doc); err) {
    return Status::InvalidArgument(std::string("signal record is not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return Status::InvalidArgument("signal record must be a JSON object");
  }
  SignalView view;
  view.record = doc;
  auto get_string = [&](const char* key, std::string_view* dst) -> Status {
    simdjson::dom::element e;
    if (obj.at_key(key).get(e)) return Status::InvalidArgument(std::string(key) + ": required");
    if (e.get_string().get(*dst)) {
      return Status::InvalidArgument(std::string(key) + ": must be a string");
    }
    return Status::Ok();
  };
  USP_RETURN_IF_ERROR(get_string("user_id", &view.user_id));
  USP_RETURN_IF_ERROR(get_string("signal", &view.signal));
  simdjson::dom::element time;
  if (obj.at_key("event_time").get(time)) return Status::InvalidArgument("event_time: required");
  if (time.type() != simdjson::dom::element_type::INT64 || time.get_int64().get(view.event_time)) {
    return Status::InvalidArgument("event_time: must be an integer");
  }
  return view;
}

DeclarativeSegmentLogic::DeclarativeSegmentLogic(const UserSegmentSpec& spec)
    : enter_(spec.enter), exit_(spec.exit), expire_after_ms_(spec.expire_after_ms) {}

bool DeclarativeSegmentLogic::Matches(const SegmentTrigger& trigger, const SignalView& signal) {
  if (std::find(trigger.signals.begin(), trigger.signals.end(), signal.signal) ==
      trigger.signals.end()) {
    return false;
  }
  return trigger.filter == nullptr || trigger.filter->Evaluate(signal.record);
}

DeclarativeSegmentLogic::Match DeclarativeSegmentLogic::Classify(const SignalView& signal) const {
  // Exit first: a record that both enters and exits (overlapping filters)
  // must not keep a user who, say, booked in a trip-planner segment.
  if (exit_ && Matches(*exit_, signal)) return Match::kExit;
  if (Matches(enter_, signal)) return Match::kEnter;
  return Match::kNone;
}

bool DeclarativeSegmentLogic::IsTrigger(const SignalView& signal) const {
  return Classify(signal) != Match::kNone;
}

bool DeclarativeSegmentLogic::InSegment(const SignalView& signal, const SegmentState&) const {
  return Classify(signal) == Match::kEnter;
}

int64_t DeclarativeSegmentLogic::StartTime(const SignalView& signal, const SegmentState&) const {
  return signal.event_time;
}

std::optional<int64_t> DeclarativeSegmentLogic::ExpirationTime(const SignalView& signal,
                                                               const SegmentState&) const {
  if (!expire_after_ms_) return std::nullopt;
  // Saturate rather than overflow on absurd event times.
  if (signal.event_time > std::numeric_limits<int64_t>::max() - *expire_after_ms_) {
    return std::numeric_limits<int64_t>::max();
  }
  return signal.event_time + *expire_after_ms_;
}

}  // namespace usp
