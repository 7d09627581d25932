#include "core/segment/segment_state.h"

#include <simdjson.h>

#include "core/segment/json_fields.h"

namespace usp {
namespace {

constexpr int64_t kFormat = 1;

}  // namespace

std::string SerializeSegmentState(const SegmentState& state) {
  std::string out;
  out.reserve(160);
  out.append("{\"format\":");
  json_fields::AppendInt(kFormat, &out);
  out.append(state.has_membership ? ",\"has_membership\":true" : ",\"has_membership\":false");
  out.append(state.in_segment ? ",\"in_segment\":true" : ",\"in_segment\":false");
  out.append(",\"start\":");
  json_fields::AppendInt(state.start, &out);
  out.append(",\"expiration\":");
  json_fields::AppendOptionalInt(state.expiration, &out);
  out.append(",\"last_enter_time\":");
  json_fields::AppendInt(state.last_enter_time, &out);
  out.append(",\"reason\":\"");
  out.append(ToString(state.reason));
  out.append("\",\"version\":");
  json_fields::AppendInt(state.version, &out);
  out.push_back('}');
  return out;
}

Result<SegmentState> ParseSegmentState(std::string_view bytes) {
  // One parser per thread: state is read on every trigger of a stateful worker.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  USP_RETURN_IF_ERROR(json_fields::ParseObject(bytes, "segment state", &parser, &obj));
  int64_t format = 0;
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "format", &format));
  if (format != kFormat) {
    return Status::InvalidArgument("format: unsupported segment state format " +
                                   std::to_string(format) + " (this version reads " +
                                   std::to_string(kFormat) + ")");
  }
  SegmentState state;
  USP_RETURN_IF_ERROR(json_fields::GetBool(obj, "has_membership", &state.has_membership));
  USP_RETURN_IF_ERROR(json_fields::GetBool(obj, "in_segment", &state.in_segment));
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "start", &state.start));
  USP_RETURN_IF_ERROR(json_fields::GetOptionalInt(obj, "expiration", &state.expiration));
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "last_enter_time", &state.last_enter_time));
  std::string reason;
  USP_RETURN_IF_ERROR(json_fields::GetString(obj, "reason", &reason));
  std::optional<SegmentReason> parsed = ParseSegmentReason(reason);
  if (!parsed) return Status::InvalidArgument("reason: must be one of enter, exit, expired");
  state.reason = *parsed;
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "version", &state.version));
  if (state.in_segment && !state.has_membership) {
    return Status::InvalidArgument("in_segment: true without a membership");
  }
  if (state.has_membership && !state.in_segment && !state.expiration) {
    return Status::InvalidArgument("expiration: required when a membership has ended");
  }
  return state;
}

}  // namespace usp
