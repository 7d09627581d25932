#include "core/session/session_record.h"

#include <simdjson.h>

#include <charconv>

#include "core/signal_record.h"

namespace usp {
namespace {

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

}  // namespace

void AppendSessionRecordJson(const SessionRecord& record, std::string* out) {
  out->append("{\"user_id\":");
  AppendJsonString(record.user_id, out);
  out->append(",\"job\":");
  AppendJsonString(record.job, out);
  out->append(",\"window_start\":");
  AppendInt(record.window_start, out);
  out->append(",\"window_end\":");
  AppendInt(record.window_end, out);
  out->append(",\"aggregations\":");
  out->append(record.aggregations_json.empty() ? "{}" : record.aggregations_json);
  if (record.async_result_json) {
    out->append(",\"async_result\":");
    out->append(record.async_result_json->empty() ? "null" : *record.async_result_json);
  }
  out->append(",\"version\":");
  AppendInt(record.version, out);
  out->push_back('}');
}

std::string SerializeSessionRecord(const SessionRecord& record) {
  std::string out;
  out.reserve(112 + record.user_id.size() + record.job.size() + record.aggregations_json.size() +
              (record.async_result_json ? record.async_result_json->size() : 0));
  AppendSessionRecordJson(record, &out);
  return out;
}

Result<SessionRecord> ParseSessionRecord(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(json.data(), json.size(), true).get(doc); err) {
    return Status::InvalidArgument(std::string("session record is not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return Status::InvalidArgument("session record must be a JSON object");
  }
  SessionRecord record;
  auto get_string = [&](const char* key, std::string* dst) -> Status {
    std::string_view v;
    simdjson::dom::element e;
    if (obj.at_key(key).get(e)) return Status::InvalidArgument(std::string(key) + ": required");
    if (e.get_string().get(v)) {
      return Status::InvalidArgument(std::string(key) + ": must be a string");
    }
    dst->assign(v);
    return Status::Ok();
  };
  auto get_int = [&](const char* key, int64_t* dst) -> Status {
    simdjson::dom::element e;
    if (obj.at_key(key).get(e)) return Status::InvalidArgument(std::string(key) + ": required");
    if (e.type() != simdjson::dom::element_type::INT64 || e.get_int64().get(*dst)) {
      return Status::InvalidArgument(std::string(key) + ": must be an integer");
    }
    return Status::Ok();
  };
  USP_RETURN_IF_ERROR(get_string("user_id", &record.user_id));
  USP_RETURN_IF_ERROR(get_string("job", &record.job));
  USP_RETURN_IF_ERROR(get_int("window_start", &record.window_start));
  USP_RETURN_IF_ERROR(get_int("window_end", &record.window_end));
  USP_RETURN_IF_ERROR(get_int("version", &record.version));
  simdjson::dom::element aggregations;
  if (obj.at_key("aggregations").get(aggregations)) {
    return Status::InvalidArgument("aggregations: required");
  }
  if (aggregations.type() != simdjson::dom::element_type::OBJECT) {
    return Status::InvalidArgument("aggregations: must be an object");
  }
  AppendElementJson(aggregations, &record.aggregations_json);
  simdjson::dom::element async_result;
  if (!obj.at_key("async_result").get(async_result)) {
    record.async_result_json.emplace();
    AppendElementJson(async_result, &*record.async_result_json);
  }
  return record;
}

}  // namespace usp
