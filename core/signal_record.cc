#include "core/signal_record.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace usp {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence starting at p (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF), or 0 when ill-formed.
size_t Utf8SequenceLength(const unsigned char* p, size_t avail) {
  const unsigned char c = p[0];
  auto cont = [&](size_t i) { return i < avail && (p[i] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;  // overlong
    if (c == 0xED && p[1] > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;  // overlong
    if (c == 0xF4 && p[1] > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {  // not representable in JSON
    out->append("null");
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
  if (std::memchr(buf, '.', r.ptr - buf) == nullptr &&
      std::memchr(buf, 'e', r.ptr - buf) == nullptr) {
    out->append(".0");
  }
}

}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t run_start = 0;
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(p + i, n - i);
      if (len != 0) {
        i += len;
        continue;
      }
    }
    out->append(text.data() + run_start, i - run_start);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out->append(esc, sizeof(esc));
        } else {
          out->append(kReplacement, 3);
        }
    }
    ++i;
    run_start = i;
  }
  out->append(text.data() + run_start, n - run_start);
  out->push_back('"');
}

void AppendElementJson(simdjson::dom::element value, std::string* out) {
  switch (value.type()) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object obj;
      obj = value.get_object().value_unsafe();
      out->push_back('{');
      bool first = true;
      for (simdjson::dom::key_value_pair kv : obj) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(kv.key, out);
        out->push_back(':');
        AppendElementJson(kv.value, out);
      }
      out->push_back('}');
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array arr;
      arr = value.get_array().value_unsafe();
      out->push_back('[');
      bool first = true;
      for (simdjson::dom::element child : arr) {
        if (!first) out->push_back(',');
        first = false;
        AppendElementJson(child, out);
      }
      out->push_back(']');
      return;
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      s = value.get_string().value_unsafe();
      AppendJsonString(s, out);
      return;
    }
    case simdjson::dom::element_type::INT64: {
      int64_t v = 0;
      v = value.get_int64().value_unsafe();
      AppendInt(v, out);
      return;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t v = 0;
      v = value.get_uint64().value_unsafe();
      AppendUint(v, out);
      return;
    }
    case simdjson::dom::element_type::DOUBLE: {
      double v = 0;
      v = value.get_double().value_unsafe();
      AppendDouble(v, out);
      return;
    }
    case simdjson::dom::element_type::BOOL: {
      bool v = false;
      v = value.get_bool().value_unsafe();
      out->append(v ? "true" : "false");
      return;
    }
    case simdjson::dom::element_type::NULL_VALUE:
      out->append("null");
      return;
  }
}

void AppendSignalRecordJson(const SignalRecord& record, std::string* out) {
  out->append("{\"user_id\":");
  AppendJsonString(record.user_id, out);
  out->append(",\"signal\":");
  AppendJsonString(record.signal, out);
  out->append(",\"event_time\":");
  AppendInt(record.event_time, out);
  out->append(",\"event_id\":");
  AppendJsonString(record.event_id, out);
  out->append(",\"version\":");
  AppendInt(record.version, out);
  out->append(",\"attributes\":");
  if (record.attributes_json.empty()) {
    out->append("{}");
  } else {
    out->append(record.attributes_json);
  }
  out->push_back('}');
}

std::string SerializeSignalRecord(const SignalRecord& record) {
  std::string out;
  out.reserve(96 + record.user_id.size() + record.signal.size() + record.event_id.size() +
              record.attributes_json.size());
  AppendSignalRecordJson(record, &out);
  return out;
}

Result<SignalRecord> ParseSignalRecord(std::string_view json) {
  // One parser per thread: parsing records sits on the query service's ingest path.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(json.data(), json.size(), true).get(doc); err) {
    return Status::InvalidArgument(std::string("signal record is not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return Status::InvalidArgument("signal record must be a JSON object");
  }
  SignalRecord record;
  auto get_string = [&](const char* key, std::string* dst) -> Status {
    std::string_view v;
    simdjson::dom::element e;
    if (obj.at_key(key).get(e)) return Status::InvalidArgument(std::string(key) + ": required");
    if (e.get_string().get(v))
      return Status::InvalidArgument(std::string(key) + ": must be a string");
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
  USP_RETURN_IF_ERROR(get_string("signal", &record.signal));
  USP_RETURN_IF_ERROR(get_int("event_time", &record.event_time));
  USP_RETURN_IF_ERROR(get_string("event_id", &record.event_id));
  USP_RETURN_IF_ERROR(get_int("version", &record.version));
  simdjson::dom::element attributes;
  if (obj.at_key("attributes").get(attributes)) {
    return Status::InvalidArgument("attributes: required");
  }
  if (attributes.type() != simdjson::dom::element_type::OBJECT) {
    return Status::InvalidArgument("attributes: must be an object");
  }
  AppendElementJson(attributes, &record.attributes_json);
  return record;
}

}  // namespace usp
