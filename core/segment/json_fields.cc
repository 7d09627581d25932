#include "core/segment/json_fields.h"

#include <charconv>

namespace usp::json_fields {
namespace {

Status Lookup(simdjson::dom::object obj, const char* key, simdjson::dom::element* out) {
  if (obj.at_key(key).get(*out)) return Status::InvalidArgument(std::string(key) + ": required");
  return Status::Ok();
}

Status MustBe(const char* key, const char* what) {
  return Status::InvalidArgument(std::string(key) + ": must be " + what);
}

}  // namespace

void AppendInt(int64_t value, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, r.ptr);
}

void AppendOptionalInt(const std::optional<int64_t>& value, std::string* out) {
  if (value) {
    AppendInt(*value, out);
  } else {
    out->append("null");
  }
}

Status ParseObject(std::string_view json, const char* what, simdjson::dom::parser* parser,
                   simdjson::dom::object* out) {
  simdjson::dom::element doc;
  if (auto err = parser->parse(json.data(), json.size(), true).get(doc); err) {
    return Status::InvalidArgument(std::string(what) +
                                   " is not valid JSON: " + simdjson::error_message(err));
  }
  if (doc.get_object().get(*out)) {
    return Status::InvalidArgument(std::string(what) + " must be a JSON object");
  }
  return Status::Ok();
}

Status GetString(simdjson::dom::object obj, const char* key, std::string* out) {
  simdjson::dom::element e;
  USP_RETURN_IF_ERROR(Lookup(obj, key, &e));
  std::string_view v;
  if (e.get_string().get(v)) return MustBe(key, "a string");
  out->assign(v);
  return Status::Ok();
}

Status GetBool(simdjson::dom::object obj, const char* key, bool* out) {
  simdjson::dom::element e;
  USP_RETURN_IF_ERROR(Lookup(obj, key, &e));
  if (e.get_bool().get(*out)) return MustBe(key, "a boolean");
  return Status::Ok();
}

Status GetInt(simdjson::dom::object obj, const char* key, int64_t* out) {
  simdjson::dom::element e;
  USP_RETURN_IF_ERROR(Lookup(obj, key, &e));
  // Only exact integers: a double (1.5, 1e3) or an integer beyond int64 is refused.
  if (e.type() != simdjson::dom::element_type::INT64 || e.get_int64().get(*out)) {
    return MustBe(key, "an integer");
  }
  return Status::Ok();
}

Status GetOptionalInt(simdjson::dom::object obj, const char* key, std::optional<int64_t>* out) {
  simdjson::dom::element e;
  USP_RETURN_IF_ERROR(Lookup(obj, key, &e));
  if (e.is_null()) {
    out->reset();
    return Status::Ok();
  }
  int64_t v = 0;
  if (e.type() != simdjson::dom::element_type::INT64 || e.get_int64().get(v)) {
    return MustBe(key, "an integer or null");
  }
  *out = v;
  return Status::Ok();
}

}  // namespace usp::json_fields
