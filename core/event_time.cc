#include "core/event_time.h"

#include <cmath>
#include <cstdio>

namespace usp {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at text[*pos].
bool Digits(std::string_view text, size_t* pos, size_t n, int* value) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *value = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

const char* TypeName(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return "integer";
    case simdjson::dom::element_type::DOUBLE:
      return "number";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::BOOL:
      return "bool";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// Upper bound for epoch ms we accept: year 9999, the RFC 3339 limit.
constexpr int64_t kMaxEpochMs = 253402300799999;

}  // namespace

Result<int64_t> ParseRfc3339Ms(std::string_view text) {
  auto fail = [&](const char* why) {
    return Status::InvalidArgument("invalid RFC 3339 time \"" + std::string(text) + "\": " + why);
  };
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, &pos, 4, &year) || !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &month) ||
      !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &day)) {
    return fail("expected YYYY-MM-DD");
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
    return fail("expected 'T' after the date");
  }
  ++pos;
  if (!Digits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &second)) {
    return fail("expected hh:mm:ss");
  }
  if (month < 1 || month > 12) return fail("month out of range");
  if (day < 1 || static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month))) {
    return fail("day out of range");
  }
  // 60 is a leap second; it lands on the next minute's first second.
  if (hour > 23 || minute > 59 || second > 60) return fail("time of day out of range");

  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;  // digits past milliseconds are truncated
      scale /= 10;
      ++pos;
    }
    if (pos == start) return fail("expected digits after '.'");
  }

  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!Digits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') || !Digits(text, &pos, 2, &om)) {
      return fail("expected offset as +hh:mm");
    }
    if (oh > 23 || om > 59) return fail("offset out of range");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return fail("expected 'Z' or an offset like +01:00");
  }
  if (pos != text.size()) return fail("unexpected trailing characters");

  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::string FormatRfc3339Ms(int64_t epoch_ms) {
  int64_t days = epoch_ms / 86400000;
  int64_t rem = epoch_ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  CivilFromDays(days, &year, &month, &day);
  const int64_t ms = rem % 1000;
  const int64_t secs = rem / 1000;
  char buf[64];
  int n =
      std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                    static_cast<long long>(year), month, day, static_cast<long long>(secs / 3600),
                    static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (ms != 0) {
    n = std::snprintf(buf, sizeof(buf), ".%03lld", static_cast<long long>(ms));
    out.append(buf, static_cast<size_t>(n));
  }
  out.push_back('Z');
  return out;
}

Result<int64_t> ParseEventTime(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64: {
      int64_t v = 0;
      v = value.get_int64().value_unsafe();
      if (v < 0) return Status::InvalidArgument("negative epoch ms " + std::to_string(v));
      if (v > kMaxEpochMs) return Status::InvalidArgument("epoch ms out of range");
      return v;
    }
    case simdjson::dom::element_type::UINT64:
      return Status::InvalidArgument("epoch ms out of range");
    case simdjson::dom::element_type::DOUBLE: {
      double v = 0;
      v = value.get_double().value_unsafe();
      if (!std::isfinite(v) || std::floor(v) != v) {
        return Status::InvalidArgument("epoch ms must be a whole number");
      }
      if (v < 0) return Status::InvalidArgument("negative epoch ms");
      if (v > static_cast<double>(kMaxEpochMs)) {
        return Status::InvalidArgument("epoch ms out of range");
      }
      return static_cast<int64_t>(v);
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      s = value.get_string().value_unsafe();
      Result<int64_t> ms = ParseRfc3339Ms(s);
      if (!ms.ok()) return ms;
      if (*ms < 0)
        return Status::InvalidArgument("event time before 1970: \"" + std::string(s) + "\"");
      return ms;
    }
    default:
      return Status::InvalidArgument(std::string("expected epoch ms or RFC 3339 string, got ") +
                                     TypeName(value.type()));
  }
}

}  // namespace usp
