#pragma once
// Internal to core/session/: appending the state forms of accumulators,
// windows and the operator as compact JSON text directly, without building
// an nlohmann document first. Each Append*State function writes exactly the
// bytes its ToState()/...Json() counterpart gives through
// dump(-1, ' ', false, error_handler_t::replace) for valid UTF-8 strings
// (objects with their keys in sorted order, as nlohmann's std::map does), so
// either form restores through the same FromState/Restore code; the state
// stored in RocksDB and the changelog does not change. (On invalid UTF-8 the
// two may replace a different number of bytes with U+FFFD; both are valid
// JSON.) session_window_operator_test checks the equality.

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/signal_record.h"

namespace usp::session_internal {

inline void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

inline void AppendBool(bool v, std::string* out) { out->append(v ? "true" : "false"); }

// Any JSON value (numbers of unknown kind, last_n values): nlohmann's own text.
inline void AppendValue(const nlohmann::json& v, std::string* out) {
  out->append(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// `"key":` (key is a plain ASCII literal).
inline void AppendKey(std::string_view key, std::string* out) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

inline void AppendString(std::string_view text, std::string* out) { AppendJsonString(text, out); }

}  // namespace usp::session_internal
