#include "core/duration.h"

#include <limits>

namespace usp {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t ms;
};

// Largest first: FormatDurationMs walks this list to get the shortest form.
constexpr Unit kUnits[] = {
    {"d", 24LL * 3600 * 1000}, {"h", 3600LL * 1000}, {"m", 60LL * 1000}, {"s", 1000}, {"ms", 1},
};

}  // namespace

Result<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  if (text == "0") return int64_t{0};
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t number_start = i;
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const int digit = text[i] - '0';
      if (number > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        return Status::InvalidArgument("duration out of range");
      }
      number = number * 10 + digit;
      ++i;
    }
    if (i == number_start) {
      return Status::InvalidArgument("expected a number at \"" + std::string(text.substr(i)) +
                                     "\" (forms: 500ms, 10s, 5m, 2h, 14d, 1h30m)");
    }
    const size_t unit_start = i;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9')) ++i;
    const std::string_view suffix = text.substr(unit_start, i - unit_start);
    if (suffix.empty()) {
      return Status::InvalidArgument("missing unit after " +
                                     std::string(text.substr(number_start, i - number_start)) +
                                     " (use ms, s, m, h or d)");
    }
    int64_t unit_ms = 0;
    for (const Unit& unit : kUnits) {
      if (unit.suffix == suffix) unit_ms = unit.ms;
    }
    if (unit_ms == 0) {
      return Status::InvalidArgument("unknown unit \"" + std::string(suffix) +
                                     "\" (use ms, s, m, h or d)");
    }
    if (number > (std::numeric_limits<int64_t>::max() - total) / unit_ms) {
      return Status::InvalidArgument("duration out of range");
    }
    total += number * unit_ms;
  }
  return total;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms <= 0) return "0s";
  std::string out;
  for (const Unit& unit : kUnits) {
    if (ms >= unit.ms) {
      out += std::to_string(ms / unit.ms);
      out += unit.suffix;
      ms %= unit.ms;
    }
  }
  return out;
}

}  // namespace usp
