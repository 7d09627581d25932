#pragma once
// Internal to core/segment: the small readers and writers behind the segment
// record and segment state codecs (compact JSON, simdjson on the read side,
// the conventions of core/signal_record.cc). Not a public API.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp::json_fields {

void AppendInt(int64_t value, std::string* out);
void AppendOptionalInt(const std::optional<int64_t>& value, std::string* out);  // null when unset

// Parses `json` into *parser and returns its top-level object. `what` names
// the document in errors ("segment record is not valid JSON: ...").
Status ParseObject(std::string_view json, const char* what, simdjson::dom::parser* parser,
                   simdjson::dom::object* out);

// Required fields; errors read "<key>: required" / "<key>: must be ...".
Status GetString(simdjson::dom::object obj, const char* key, std::string* out);
Status GetBool(simdjson::dom::object obj, const char* key, bool* out);
Status GetInt(simdjson::dom::object obj, const char* key, int64_t* out);
// Present as an integer or null (nullopt). Still required.
Status GetOptionalInt(simdjson::dom::object obj, const char* key, std::optional<int64_t>* out);

}  // namespace usp::json_fields
