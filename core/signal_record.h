#pragma once
// The signal record: what signal output topics carry and the query API returns.
// {"user_id", "signal", "event_time", "event_id", "version", "attributes": {...}}

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

struct SignalRecord {
  std::string user_id;
  std::string signal;      // the UserSignal's name
  int64_t event_time = 0;  // epoch ms
  std::string event_id;
  int64_t version = 0;          // processing time, epoch ms (newer wins)
  std::string attributes_json;  // a JSON object, compact text

  bool operator==(const SignalRecord&) const = default;
};

// Canonical compact JSON with keys in the order above. Appends to *out.
void AppendSignalRecordJson(const SignalRecord& record, std::string* out);
std::string SerializeSignalRecord(const SignalRecord& record);

// Accepts any key order; `attributes` must be an object (kept as compact text).
Result<SignalRecord> ParseSignalRecord(std::string_view json);

// Appends `text` as a JSON string literal (quotes and escapes included).
// Escapes '"', '\\' and every control character below 0x20 (\n, \t, ... or
// \u00XX). Invalid UTF-8 is never passed through: each byte that does not
// start a well-formed sequence becomes U+FFFD, so the output is always valid
// JSON text.
void AppendJsonString(std::string_view text, std::string* out);

// Appends a parsed JSON value as compact JSON text. Integers keep their exact
// value; doubles use the shortest round-trip form and always keep a '.' or an
// exponent so they read back as doubles.
void AppendElementJson(simdjson::dom::element value, std::string* out);

}  // namespace usp
