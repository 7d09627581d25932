#include "core/segment/segment_record.h"

#include <simdjson.h>


#include "core/segment/json_fields.h"
#include "core/signal_record.h"  // AppendJsonString

namespace usp {

const char* ToString(SegmentReason reason) {
  switch (reason) {
    case SegmentReason::kEnter:
      return "enter";
    case SegmentReason::kExit:
      return "exit";
    case SegmentReason::kExpired:
      return "expired";
  }
  return "enter";
}

std::optional<SegmentReason> ParseSegmentReason(std::string_view text) {
  if (text == "enter") return SegmentReason::kEnter;
  if (text == "exit") return SegmentReason::kExit;
  if (text == "expired") return SegmentReason::kExpired;
  return std::nullopt;
}

void AppendSegmentRecordJson(const SegmentRecord& record, std::string* out) {
  out->append("{\"user_id\":");
  AppendJsonString(record.user_id, out);
  out->append(",\"segment\":");
  AppendJsonString(record.segment, out);
  out->append(record.in_segment ? ",\"in_segment\":true" : ",\"in_segment\":false");
  out->append(",\"start\":");
  json_fields::AppendInt(record.start, out);
  out->append(",\"expiration\":");
  json_fields::AppendOptionalInt(record.expiration, out);
  out->append(",\"version\":");
  json_fields::AppendInt(record.version, out);
  out->append(",\"reason\":\"");
  out->append(ToString(record.reason));
  out->append("\"}");
}

std::string SerializeSegmentRecord(const SegmentRecord& record) {
  std::string out;
  out.reserve(128 + record.user_id.size() + record.segment.size());
  AppendSegmentRecordJson(record, &out);
  return out;
}

Result<SegmentRecord> ParseSegmentRecord(std::string_view json) {
  // One parser per thread: the query service parses every record it ingests.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  USP_RETURN_IF_ERROR(json_fields::ParseObject(json, "segment record", &parser, &obj));
  SegmentRecord record;
  USP_RETURN_IF_ERROR(json_fields::GetString(obj, "user_id", &record.user_id));
  USP_RETURN_IF_ERROR(json_fields::GetString(obj, "segment", &record.segment));
  USP_RETURN_IF_ERROR(json_fields::GetBool(obj, "in_segment", &record.in_segment));
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "start", &record.start));
  USP_RETURN_IF_ERROR(json_fields::GetOptionalInt(obj, "expiration", &record.expiration));
  USP_RETURN_IF_ERROR(json_fields::GetInt(obj, "version", &record.version));
  std::string reason;
  USP_RETURN_IF_ERROR(json_fields::GetString(obj, "reason", &reason));
  std::optional<SegmentReason> parsed = ParseSegmentReason(reason);
  if (!parsed) {
    return Status::InvalidArgument("reason: must be one of enter, exit, expired, got \"" + reason +
                                   "\"");
  }
  record.reason = *parsed;
  if (record.in_segment != (record.reason == SegmentReason::kEnter)) {
    return Status::InvalidArgument(std::string("reason: ") + ToString(record.reason) +
                                   " contradicts in_segment " +
                                   (record.in_segment ? "true" : "false"));
  }
  if (!record.in_segment && !record.expiration) {
    return Status::InvalidArgument("expiration: required when in_segment is false");
  }
  return record;
}

}  // namespace usp
