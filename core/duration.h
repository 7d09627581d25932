#pragma once
// Durations as written in resources: "500ms", "10s", "10m", "2h", "14d",
// and sums of them ("1h30m"). Units: ms s m h d. Always non-negative.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

// Returns milliseconds. Errors: empty text, unknown unit, missing number,
// overflow. Error messages describe the value, not the field (callers add it).
Result<int64_t> ParseDurationMs(std::string_view text);

// Shortest exact form: 1209600000 -> "14d", 90000 -> "1m30s", 0 -> "0s".
std::string FormatDurationMs(int64_t ms);

}  // namespace usp
