#pragma once
// Event times: epoch milliseconds (JSON integer, or a float that is a whole
// number) or an RFC 3339 string ("2026-11-22T10:00:00Z",
// "2026-11-22T10:00:00.123+01:00"). Internally always epoch ms (int64).

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

Result<int64_t> ParseRfc3339Ms(std::string_view text);
std::string FormatRfc3339Ms(int64_t epoch_ms);  // UTC, "...T...:...:...(.mmm)Z"

// From an event field. Errors name the problem ("expected epoch ms or RFC 3339
// string, got bool"). Negative epoch values are rejected.
Result<int64_t> ParseEventTime(simdjson::dom::element value);

}  // namespace usp
